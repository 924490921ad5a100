/** The flags of the commands that serve HTTP (deploy, app-ui), so both describe them alike. */
import type { FlagSpecs } from './args.js';

export function listenFlags(defaultPort: number): FlagSpecs {
  return {
    host: { kind: 'string', default: '127.0.0.1', help: 'address to listen on (0.0.0.0 for every interface)' },
    port: { kind: 'number', default: defaultPort, help: 'port to listen on (0 picks a free one)' },
    'api-key': { kind: 'string', help: 'require "Authorization: Bearer KEY" on /v1/*, /tokenize, /detokenize', defaultText: '$SWIFTLET_API_KEY' },
  };
}
