/** The server's small parts without a model: CORS policy, API key guard, Prometheus text. */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { ApiKeyGuard } from '../src/server/auth.js';
import { CorsPolicy } from '../src/server/cors.js';
import { Histogram, LabeledValues } from '../src/server/prometheus.js';

function request(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

test('CORS: any origin by default; a list allows only its origins and says Vary', () => {
  const open = new CorsPolicy();
  assert.deepEqual(open.headers(request({ origin: 'http://a.example' })), { 'Access-Control-Allow-Origin': '*' });
  const strict = new CorsPolicy(['http://ui.example']);
  assert.deepEqual(strict.headers(request({ origin: 'http://ui.example' })), { 'Access-Control-Allow-Origin': 'http://ui.example', Vary: 'Origin' });
  assert.deepEqual(strict.headers(request({ origin: 'http://evil.example' })), {});
  assert.deepEqual(strict.headers(request({})), {});
  let status = 0;
  let sent: Record<string, string> = {};
  const res = { writeHead: (s: number, h: Record<string, string>) => ((status = s), (sent = h)), end: () => {} } as unknown as ServerResponse;
  strict.preflight(request({ origin: 'http://evil.example', 'access-control-request-method': 'POST' }), res);
  assert.equal(status, 204);
  assert.equal(sent['Access-Control-Allow-Methods'], undefined);
  strict.preflight(request({ origin: 'http://ui.example' }), res);
  assert.equal(sent['Access-Control-Allow-Headers'], 'Authorization, Content-Type');
});

test('API key: Bearer only, exact key, 401 bodies say what is missing', () => {
  const guard = new ApiKeyGuard('k');
  assert.equal(guard.check(request({ authorization: 'Bearer k' })), null);
  assert.equal(guard.check(request({ authorization: 'bearer   k ' })), null);
  assert.equal(guard.check(request({ authorization: 'Bearer kk' }))?.status, 401);
  assert.equal(guard.check(request({ authorization: 'Basic k' }))?.message.includes('Missing API key'), true);
  assert.equal(guard.check(request({}))?.toBody().error.type, 'authentication_error');
});

test('Prometheus text: escaped labels, cumulative buckets, +Inf, sum and count', () => {
  const counter = new LabeledValues('x_total', 'help\nline', 'counter');
  counter.inc({ path: 'a"b\\c' });
  counter.inc({ path: 'a"b\\c' }, 2);
  assert.equal(counter.render(), '# HELP x_total help\\nline\n# TYPE x_total counter\nx_total{path="a\\"b\\\\c"} 3\n');
  const histogram = new Histogram('h', 'h', [0.1, 1], { m: 'x' });
  histogram.observe(0.05);
  histogram.observe(0.5);
  histogram.observe(5);
  assert.equal(
    histogram.render(),
    '# HELP h h\n# TYPE h histogram\nh_bucket{m="x",le="0.1"} 1\nh_bucket{m="x",le="1"} 2\nh_bucket{m="x",le="+Inf"} 3\nh_sum{m="x"} 5.55\nh_count{m="x"} 3\n',
  );
});
