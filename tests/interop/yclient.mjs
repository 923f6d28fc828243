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

// --- plan edits as the bundle makes them (client/src/plan/items.js, fields.js, undo.js) --
// Normal use of the zone contract (docs/schema.md), so a test can prove the server's shape check
// never refuses what the real client writes.
const TEXT_FIELDS = new Set(['title', 'text', 'decision', 'what', 'result', 'worked', 'change', 'next', 'ownerComment'])
const RICH_FIELDS = new Set(['description', 'body'])
const newItem = (values) => {
  const item = new Y.Map()
  item.set('id', crypto.randomUUID())
  for (const [key, value] of Object.entries(values)) {
    if (TEXT_FIELDS.has(key)) item.set(key, new Y.Text(value || ''))
    else if (RICH_FIELDS.has(key)) item.set(key, new Y.XmlFragment())
    else if (key === 'responsible') { const arr = new Y.Array(); if (value && value.length) arr.push(value.map(String)); item.set(key, arr) }
    else item.set(key, value)
  }
  return item
}
// What y-prosemirror writes: a paragraph with a bold run, and a bullet list of one item.
const writeRich = (fragment, text) => {
  const paragraph = new Y.XmlElement('paragraph')
  const run = new Y.XmlText()
  paragraph.insert(0, [run])
  const list = new Y.XmlElement('bulletList')
  const listItem = new Y.XmlElement('listItem')
  const inner = new Y.XmlElement('paragraph')
  const innerText = new Y.XmlText()
  inner.insert(0, [innerText])
  listItem.insert(0, [inner])
  list.insert(0, [listItem])
  fragment.insert(fragment.length, [paragraph, list])
  run.insert(0, text)
  run.format(0, 3, { bold: {} })
  innerText.insert(0, text, { italic: {} })
}
const origin = { local: true }
const undo = { manager: null }
const tracked = (roots) => {
  if (!undo.manager) undo.manager = new Y.UndoManager(roots, { trackedOrigins: new Set([origin]), captureTimeout: 0 })
  return undo.manager
}
const edit = (fn) => doc.transact(fn, origin)

const areaEdits = ({ me = '4', text }) => {
  const goals = doc.getArray('goals')
  const measures = doc.getArray('measures')
  const evaluations = doc.getArray('evaluations')
  const manager = tracked([goals, measures, evaluations])
  const goal = newItem({ parentId: null, label: 'M1', title: '', description: null })
  edit(() => goals.push([goal]))
  edit(() => goal.get('title').insert(0, text))
  edit(() => writeRich(goal.get('description'), text))
  const sub = newItem({ parentId: goal.get('id'), label: '1.1', title: text, description: null })
  edit(() => goals.push([sub]))
  const measure = newItem({
    goalId: goal.get('id'), title: text, description: null, responsible: [], externalParty: '', scope: '',
    start: null, end: null, status: 'ikke_startet', meetingId: null
  })
  edit(() => measures.push([measure]))
  edit(() => { measure.set('start', '2026-01-15'); measure.set('end', '2026-06-19') })
  edit(() => measure.set('status', 'pagar'))
  edit(() => measure.get('responsible').push([String(me)]))
  edit(() => measure.set('externalParty', 'PPT Ødegården'))
  edit(() => writeRich(measure.get('description'), text))
  const evaluation = newItem({
    goalId: goal.get('id'), date: '2026-02-01', attainment: null, result: '', worked: '', change: '', next: '',
    responsible: [], nextReview: null, ownerComment: ''
  })
  edit(() => evaluations.push([evaluation]))
  edit(() => { evaluation.set('attainment', 'delvis'); evaluation.get('result').insert(0, text) })
  edit(() => evaluation.set('nextReview', '2026-05-01'))
  edit(() => evaluation.set('nextReview', null))
  // Undo the last edits and a removal: the bundle's Angre.
  edit(() => goal.get('title').insert(goal.get('title').length, ' (utkast)'))
  manager.undo()
  const removed = newItem({ parentId: null, label: 'M2', title: 'Slettes og angres 🗑️', description: null })
  edit(() => goals.push([removed]))
  manager.stopCapturing()
  edit(() => goals.delete(goals.length - 1, 1))
  manager.undo()
  manager.undo()
  manager.redo()
  return { goals: goals.length, measures: measures.length, evaluations: evaluations.length }
}

const contentEdits = ({ me = '4', text }) => {
  const meta = doc.getMap('meta')
  const aboutMe = doc.getXmlFragment('aboutMe')
  const contributions = doc.getArray('contributions')
  const collaboration = doc.getArray('collaboration')
  const otherPlans = doc.getArray('otherPlans')
  const manager = tracked([meta, aboutMe, contributions, collaboration, otherPlans])
  edit(() => { meta.set('planPeriodStart', '2026-01-01'); meta.set('planPeriodEnd', '2026-12-31') })
  edit(() => meta.set('nextRevision', '2026-06-30'))
  edit(() => meta.set('status', 'aktiv'))
  edit(() => writeRich(aboutMe, text))
  edit(() => contributions.push([newItem({ userId: String(me), name: 'Åse Ødegård', text })]))
  edit(() => collaboration.push([newItem({ name: 'Helsesykepleier Ødegård', role: 'helsesykepleier', organisation: 'Skolen 🏫', purpose: text })]))
  edit(() => otherPlans.push([newItem({ kind: 'IOP', title: text, holder: 'Skolen', link: null })]))
  edit(() => meta.set('nextRevision', '2026-08-15'))
  manager.undo()
  return { contributions: contributions.length }
}

const commands = {
  areaEdits,
  contentEdits,
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
