/** GGUF file format: types, reader, writer, f16 helpers. */
export * from './types';
export * from './reader';
export * from './writer';
export * from './f16';
