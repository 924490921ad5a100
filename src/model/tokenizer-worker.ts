/**
 * A worker thread's entry (see src/host/offloaded-encoder.ts): loads the tokenizer of the model
 * directory it is given and encodes the texts posted to it, one at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTokenizer } from './tokenizer.js';

/** A text to encode, and the id its answer carries. */
export interface EncodeJob {
  id: number;
  text: string;
  addSpecialTokens: boolean;
}

export type EncodeAnswer = { id: number; ids: Int32Array<ArrayBuffer> } | { id: number; error: string };

const port = parentPort;
if (port === null) throw new Error('tokenizer-worker.js runs as a worker thread');
const tokenizer = await loadTokenizer((workerData as { modelDir: string }).modelDir);
// NOTE: jobs posted while the tokenizer loaded wait in the port until this listener starts it.
port.on('message', (job: EncodeJob) => {
  let answer: EncodeAnswer;
  try {
    answer = { id: job.id, ids: Int32Array.from(tokenizer.encode(job.text, { addSpecialTokens: job.addSpecialTokens })) };
  } catch (error) {
    answer = { id: job.id, error: (error as Error).message };
  }
  port.postMessage(answer, 'ids' in answer ? [answer.ids.buffer] : []);
});
