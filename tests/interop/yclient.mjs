// The official Yjs client (yjs 13.6 + y-websocket 3), driven by tests over stdin/stdout.
//
//   node yclient.mjs ws://127.0.0.1:PORT/ws plan/<id>/<zone> [token] [--no-connect]
//
// It connects at once unless --no-connect is given (then it waits for a "connect" command, so
// several clients can be started first and told to connect at the same instant).
//
// stdin:  one JSON command a line: {"id": 1, "cmd": "insert", "name": "t", "index": 0, "text": "Blåbær"}
// stdout: one JSON answer a line: {"id": 1, "ok": true, ...} or {"id": 1, "ok": false, "error": "..."},
//         and events without an id: {"event": "ready" | "status" | "synced" | "connection-close" |
//         "closed" | "denied" | "update" | "awareness", ...}. "ready" comes first.
// Text positions are JavaScript's, so UTF-16 code units, as in the browser.
// Nothing else may write to stdout: y-websocket's own warnings go to stderr.
import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as authProtocol from 'y-protocols/auth'
import { WebsocketProvider, messageAuth } from 'y-websocket'

const flags = process.argv.slice(2).filter((arg) => arg.startsWith('--'))
const [serverUrl, roomName, token] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
if (!serverUrl || !roomName) {
  process.stderr.write('usage: node yclient.mjs <server-url> <room> [token] [--no-connect]\n')
  process.exit(2)
}

const emit = (message) => process.stdout.write(JSON.stringify(message) + '\n')

const doc = new Y.Doc()
const provider = new WebsocketProvider(serverUrl, roomName, doc, {
  WebSocketPolyfill: WebSocket,
  params: token ? { token } : {},
  // Connect below, once the event handlers are attached (so the first "connecting" is seen).
  connect: false,
  // Every client is its own process; keep all traffic on the server, none on a BroadcastChannel.
  disableBc: true
})

provider.on('status', ({ status }) => emit({ event: 'status', status }))
provider.on('synced', (synced) => emit({ event: 'synced', synced }))
// `event` is null when the close was ours (disconnect, or the 30 s silence watchdog).
provider.on('connection-close', (event) => emit({
  event: 'connection-close', code: event ? event.code : null, reason: event ? event.reason : null
}))
// So that tests waiting on text or presence wake at once instead of on their next poll.
doc.on('update', (_update, origin) => emit({ event: 'update', remote: origin === provider }))
provider.awareness.on('change', ({ added, updated, removed }) =>
  emit({ event: 'awareness', added, updated, removed }))
// A 4400-4499 close: y-websocket gives up reconnecting.
provider.on('closed', ({ code, reason }) => emit({ event: 'closed', code, reason }))
// Report a permission-denied auth message instead of only warning on stderr.
provider.messageHandlers[messageAuth] = (_encoder, decoder, provider) =>
  authProtocol.readAuthMessage(decoder, provider.doc, (_doc, reason) =>
    emit({ event: 'denied', reason }))

const waitSynced = (timeoutMs) => new Promise((resolve, reject) => {
  if (provider.synced) return resolve()
  const timer = setTimeout(() => {
    provider.off('synced', onSynced)
    reject(new Error(`not synced after ${timeoutMs} ms`))
  }, timeoutMs)
  const onSynced = (synced) => {
    if (!synced) return
    clearTimeout(timer)
    provider.off('synced', onSynced)
    resolve()
  }
  provider.on('synced', onSynced)
})

const otherStates = () => {
  const states = {}
  for (const [clientId, state] of provider.awareness.getStates()) {
    if (clientId !== doc.clientID) states[clientId] = state
  }
  return states
}

const commands = {
  connect: () => { provider.connect(); return {} },
  // Like going offline: the socket closes (after a goodbye awareness update), the doc stays.
  disconnect: () => { provider.disconnect(); return {} },
  // Close the socket without the goodbye awareness update and without reconnecting:
  // "close" sends a close frame, "terminate" just drops the TCP connection.
  drop: ({ mode = 'close' }) => {
    provider.shouldConnect = false
    const ws = provider.ws
    if (ws) mode === 'terminate' ? ws.terminate() : ws.close(1000)
    return {}
  },
  insert: ({ name = 't', index, text }) => {
    const ytext = doc.getText(name)
    ytext.insert(index ?? ytext.length, text)
    return { length: ytext.length }
  },
  get: ({ name = 't' }) => ({ text: doc.getText(name).toString() }),
  setAwareness: ({ state }) => { provider.awareness.setLocalState(state ?? null); return {} },
  awareness: () => ({ clientId: doc.clientID, states: otherStates() }),
  status: () => ({ synced: provider.synced, wsconnected: provider.wsconnected }),
  waitSynced: async ({ timeoutMs = 10000 }) => { await waitSynced(timeoutMs); return {} },
  quit: () => { setImmediate(shutdown); return {} }
}

let quitting = false
function shutdown () {
  if (quitting) return
  quitting = true
  provider.destroy()
  doc.destroy()
  // Let the close frame go out before exiting.
  setTimeout(() => process.exit(0), 50)
}

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  if (!line.trim()) return
  let request
  try {
    request = JSON.parse(line)
  } catch (error) {
    return emit({ id: null, ok: false, error: `bad JSON: ${error.message}` })
  }
  const { id, cmd, ...args } = request
  const command = commands[cmd]
  if (!command) return emit({ id, ok: false, error: `unknown command: ${cmd}` })
  try {
    emit({ id, ok: true, ...(await command(args)) })
  } catch (error) {
    emit({ id, ok: false, error: String(error && error.stack ? error.stack : error) })
  }
})
// The test went away: leave as a closing tab would.
lines.on('close', shutdown)

emit({ event: 'ready', clientId: doc.clientID })
if (!flags.includes('--no-connect')) provider.connect()
