// A loopback HTTP proxy that forwards every request to `target` with the Host header rewritten to the
// target's: the page is at http://phone.test:PORT (Chromium maps phone.test to 127.0.0.1), which is not a
// secure context, exactly like a LAN address over plain HTTP, while `edgeship serve` keeps answering only
// the loopback names it is bound to (its DNS-rebinding guard is not what these tests are about).
import http from "node:http";

export async function startHostProxy(target) {
  const upstream = new URL(target);
  const server = http.createServer((request, response) => {
    const forwarded = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: upstream.host },
      },
      (reply) => {
        response.writeHead(reply.statusCode, reply.headers);
        reply.pipe(response);
      },
    );
    forwarded.on("error", (error) => {
      response.writeHead(502, { "content-type": "text/plain" });
      response.end(`proxy: ${error.message}`);
    });
    request.pipe(forwarded);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
