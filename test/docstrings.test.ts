/**
 * Public functions, classes and interfaces of every stage carry a docstring (DEVELOPERS.md: shapes,
 * dtypes, units, errors). Checked with ts-morph over the TypeScript sources, so a new export without
 * one fails here.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Node, Project } from 'ts-morph';

const root = path.resolve(__dirname, '..', '..');

test('every exported function and class in generator/, tuner/, runtime/ has a docstring', () => {
  const project = new Project({ tsConfigFilePath: path.join(root, 'tsconfig.json'), skipAddingFilesFromTsConfig: true });
  project.addSourceFilesAtPaths(['generator/**/*.ts', 'tuner/**/*.ts', 'runtime/**/*.ts'].map((g) => path.join(root, g)));
  const missing: string[] = [];
  for (const file of project.getSourceFiles()) {
    for (const [name, decls] of file.getExportedDeclarations()) {
      for (const decl of decls) {
        if (decl.getSourceFile() !== file) continue; // re-exports are documented where they are declared
        const documented =
          Node.isFunctionDeclaration(decl) || Node.isClassDeclaration(decl)
            ? decl.getJsDocs().length > 0
            : Node.isVariableDeclaration(decl)
              ? (decl.getVariableStatement()?.getJsDocs().length ?? 0) > 0
              : true;
        const isCallable = Node.isFunctionDeclaration(decl) || Node.isClassDeclaration(decl) || (Node.isVariableDeclaration(decl) && Node.isArrowFunction(decl.getInitializer()));
        if (isCallable && !documented) missing.push(`${path.relative(root, file.getFilePath())}: ${name}`);
      }
    }
  }
  assert.deepEqual(missing, [], `exports without a docstring:\n${missing.join('\n')}`);
});
