/**
 * Text generation: tokenize, process the prompt in batches, decode token by token, stream text.
 */
import type { LlamaGraph } from './model/llama';
import { Sampler, type SamplingOptions } from './sampling';
import type { Tokenizer } from './tokenizer';

/** Tokens per chained greedy decode (streamed text arrives in chunks of this many tokens). */
export const GREEDY_CHUNK = 16;

export interface GenerateOptions extends SamplingOptions {
  prompt: string;
  /** Tokens to generate at most (stops earlier at EOS). */
  maxTokens: number;
  /** Called with each piece of text as soon as it is complete. */
  onText?: (text: string) => void;
}

export interface GenerateResult {
  promptTokens: number[];
  tokens: number[];
  text: string;
  promptMs: number;
  decodeMs: number;
}

/**
 * Generate from a prompt (BOS is prepended). Greedy when temperature is 0 (argmax on the GPU, chained
 * over GREEDY_CHUNK steps per submit); otherwise logits are downloaded and sampled on the host.
 * @throws RangeError when prompt plus generated tokens exceed the graph's context length.
 */
export function generate(graph: LlamaGraph, tokenizer: Tokenizer, opts: GenerateOptions): GenerateResult {
  const sampler = new Sampler(opts);
  const promptTokens = [tokenizer.bos, ...tokenizer.encode(opts.prompt, { addBos: false })];
  const ctxLen = graph.options.contextLength;
  if (promptTokens.length + opts.maxTokens > ctxLen) {
    throw new RangeError(`prompt (${promptTokens.length} tokens) + ${opts.maxTokens} new tokens exceed the context length ${ctxLen}`);
  }
  const decoder = tokenizer.decoder();
  const emit = (s: string) => {
    if (s) opts.onText?.(s);
    return s;
  };
  let text = '';
  for (const id of promptTokens.slice(1)) decoder.push(id);

  const step = (ids: number[], pos: number): number =>
    sampler.greedy ? graph.forward(ids, pos, 'argmax') : sampler.sample(graph.forward(ids, pos, 'logits'));

  const t0 = performance.now();
  const B = graph.options.maxBatch;
  let pos = 0;
  while (promptTokens.length - pos > B) {
    graph.forward(promptTokens.slice(pos, pos + B), pos, 'none');
    pos += B;
  }
  let next = step(promptTokens.slice(pos), pos);
  pos = promptTokens.length;
  const t1 = performance.now();
  const tokens: number[] = [];
  // greedy: the next ids come in chunks decoded on the GPU without a host round trip per token
  // (LlamaGraph.greedy); steps of a chunk past EOS are dropped
  let queued: number[] = [];
  while (tokens.length < opts.maxTokens && next !== tokenizer.eos) {
    tokens.push(next);
    text += emit(decoder.push(next));
    if (tokens.length === opts.maxTokens) break;
    if (sampler.greedy) {
      if (!queued.length) {
        const n = Math.min(GREEDY_CHUNK, opts.maxTokens - tokens.length);
        queued = Array.from(graph.greedy(next, pos, n));
        pos += n;
      }
      next = queued.shift()!;
    } else {
      next = step([next], pos++);
    }
  }
  text += emit(decoder.flush());
  return { promptTokens, tokens, text, promptMs: t1 - t0, decodeMs: performance.now() - t1 };
}
