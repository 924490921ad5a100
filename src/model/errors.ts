/** A checkpoint that swiftlet cannot load: the message names what is wrong and where. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}
