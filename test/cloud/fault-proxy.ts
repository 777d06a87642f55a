import http from 'node:http';

/** What a fault proxy answers instead of the upstream: a status, a content type and a body. */
export interface FaultAnswer {
  status: number;
  type: string;
  body: string;
}

export interface FaultProxy {
  endpoint: string;
  /** How many requests it answered itself. */
  hits(): number;
  stop(): Promise<void>;
}

/**
 * A proxy in front of moto (`upstreamEndpoint`) that answers the requests `fault` picks as AWS would
 * refuse them, and passes the rest on: point a client's endpoint at it to see the product meet a
 * denial, an expired token or a throttle (operate.cloud.ts, backfill.cloud.ts).
 */
export async function faultProxy(upstreamEndpoint: string, fault: (req: http.IncomingMessage, body: Buffer) => FaultAnswer | undefined): Promise<FaultProxy> {
  const target = new URL(upstreamEndpoint);
  let hits = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const answer = fault(req, body);
      if (answer) {
        hits++;
        res.writeHead(answer.status, { 'content-type': answer.type, 'x-amzn-requestid': 'fault-proxy' });
        res.end(answer.body);
        return;
      }
      const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { endpoint: `http://127.0.0.1:${port}`, hits: () => hits, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Glue's AccessDeniedException for a JSON-protocol request (its `x-amz-target` names the action), as IAM words it. */
export function glueAccessDenied(req: http.IncomingMessage): FaultAnswer {
  const action = `glue:${String(req.headers['x-amz-target']).split('.')[1]}`;
  return {
    status: 400,
    type: 'application/x-amz-json-1.1',
    body: JSON.stringify({ __type: 'AccessDeniedException', Message: `User: arn:aws:iam::123456789012:user/operator is not authorized to perform: ${action} because no identity-based policy allows the ${action} action` }),
  };
}
