// The Node peers bench/run.py measures Samplan beside, each started as its own process:
//   node serve.mjs y-websocket-server PORT         the reference server, @y/websocket-server,
//                                                 in memory (its bin, bound to 127.0.0.1)
//   node serve.mjs hocuspocus PORT                 @hocuspocus/server, in memory
//   node serve.mjs hocuspocus-sqlite PORT FILE     the same with @hocuspocus/extension-sqlite
// Each runs with its defaults, as its README starts it; nothing here is tuned for the benchmark.
// Hocuspocus frames every message with the document name (a lib0 var-string) and waits for an
// auth message first; bench/wire.py speaks that. It logs nothing per connection ("quiet").
import http from 'node:http'

const [kind, portText, database] = process.argv.slice(2)
const port = Number.parseInt(portText, 10)
if (!Number.isInteger(port)) {
  console.error('usage: node serve.mjs y-websocket-server|hocuspocus|hocuspocus-sqlite PORT [FILE]')
  process.exit(2)
}

if (kind === 'y-websocket-server') {
  // As @y/websocket-server's src/server.js, with the host and port given here.
  const { default: WebSocket } = await import('ws')
  const { setupWSConnection } = await import('@y/websocket-server/utils')
  const wss = new WebSocket.Server({ noServer: true })
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain' })
    response.end('okay')
  })
  wss.on('connection', setupWSConnection)
  server.on('upgrade', (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, ws => wss.emit('connection', ws, request))
  })
  server.listen(port, '127.0.0.1')
  process.on('SIGTERM', () => process.exit(0))
} else if (kind === 'hocuspocus' || kind === 'hocuspocus-sqlite') {
  const { Server } = await import('@hocuspocus/server')
  const extensions = []
  if (kind === 'hocuspocus-sqlite') {
    if (!database) {
      console.error('hocuspocus-sqlite needs a database file')
      process.exit(2)
    }
    const { SQLite } = await import('@hocuspocus/extension-sqlite')
    extensions.push(new SQLite({ database }))
  }
  const server = new Server({ port, address: '127.0.0.1', quiet: true, extensions })
  await server.listen()
} else {
  console.error(`unknown peer ${kind}`)
  process.exit(2)
}
