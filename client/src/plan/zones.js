// One Y.Doc + WebsocketProvider (+ IndexedDB copy on the user's own device) per zone, and the
// "is everything saved?" bookkeeping for each.
//
// y-websocket has no acknowledgement, so we make one: after local changes we send a sync step 1
// on the same socket. The server handles one connection's messages in order and holds its
// sync-step-2 reply until pending commits are durable (DESIGN §4), so that reply arriving means
// every update we sent before it is stored. A zone is "saved" when its socket is connected, it
// has synced, and every local change is covered by such a reply.
import * as Y from 'yjs'
import { WebsocketProvider, messageAuth, messageSync } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { dbName, rememberDb, onBeforeClear } from '../offline-store.js'

const ACK_DELAY_MS = 250
const SHAPE_REFUSED = 4422 // crdt/protocol.py CloseCode.UNPROCESSABLE

export class Zone {
  constructor (spec, { wsBase, userId, ownDevice, visit, onChange }) {
    this.spec = spec
    this.room = spec.room
    this.kind = spec.kind
    this.key = spec.key
    this.writable = spec.access === 'rw'
    this.doc = new Y.Doc()
    this.onChange = onChange
    this.localSeq = 0 // local updates made
    this.ackedSeq = 0 // local updates known durable on the server
    this.pendingReplies = [] // what each outstanding sync-step-2 reply acknowledges
    this.ackTimer = null
    this.closedForGood = null // {code, reason} after a 44xx close: y-websocket stops retrying
    this.writeRefused = false // the server made this zone read-only while we are connected
    this.shapeRefused = false // 4422: the server refused a change of ours that broke the plan's shape

    this.persistence = null
    if (ownDevice) {
      const name = dbName(userId, this.room)
      rememberDb(name)
      this.persistence = new IndexeddbPersistence(name, this.doc)
      this.persistence.on('synced', () => {
        // What the local copy held may never have reached the server: confirm it once.
        if (this.doc.store.clients.size > 0) this.localSeq++
        this.scheduleAck()
        this.onChange()
      })
      onBeforeClear(() => this.persistence && this.persistence.destroy())
    }

    // ?visit= is this page load's id: the access log shows the page's zones as one visit.
    const params = visit ? { visit } : {}
    this.provider = new WebsocketProvider(wsBase, this.room, this.doc, { connect: false, disableBc: true, params })
    const provider = this.provider

    this.doc.on('update', (_update, origin) => {
      if (origin === provider || (this.persistence && origin === this.persistence)) return
      this.localSeq++
      this.scheduleAck()
      this.onChange()
    })

    // Count sync-step-2 replies; answer-to-step-1 is sent by the original handler itself.
    const original = provider.messageHandlers[messageSync]
    provider.messageHandlers[messageSync] = (encoder, decoder, prov, emitSynced, messageType) => {
      const syncType = decoding.peekVarUint(decoder)
      original(encoder, decoder, prov, emitSynced, messageType)
      if (syncType === syncProtocol.messageYjsSyncStep2 && emitSynced) {
        const covers = this.pendingReplies.shift()
        if (typeof covers === 'number') this.ackedSeq = Math.max(this.ackedSeq, covers)
        // The provider's own step 1 on connect: its reply is the first sync.
        if (covers === 'connect') this.scheduleAck()
        this.onChange()
      } else if (syncType === syncProtocol.messageYjsSyncStep1) {
        // Our reply (step 2, with anything made offline) is on its way; confirm it.
        this.scheduleAck()
      }
    }

    // "Permission denied" (y-protocols auth): the server took write access away on this open
    // socket (the plan was closed, or my role changed). Nothing typed from now on is stored,
    // so the status says so instead of "saved".
    const logDenied = provider.messageHandlers[messageAuth] // y-websocket's: a console warning
    provider.messageHandlers[messageAuth] = (...args) => {
      logDenied(...args)
      if (this.writable && !this.writeRefused) {
        this.writeRefused = true
        this.onChange()
      }
    }

    provider.on('status', ({ status }) => {
      if (status === 'connected') this.pendingReplies = ['connect']
      else this.pendingReplies = []
      this.onChange()
    })
    provider.on('sync', () => this.onChange())
    provider.on('closed', (event) => {
      this.closedForGood = event
      if (event.code === SHAPE_REFUSED) this.dropLocalChanges()
      this.onChange()
      // 4401: the session ended (log-out elsewhere, idle). What was typed stays in this doc.
      if (event.code === 4401) window.dispatchEvent(new CustomEvent('samplan:session-lost'))
    })
    // Logged in again (client/src/session.js): reconnect; the sync sends what was typed meanwhile.
    this.onSessionBack = () => {
      if (this.closedForGood && this.closedForGood.code === 4401) {
        this.closedForGood = null
        provider.connect()
        this.onChange()
      }
    }
    window.addEventListener('samplan:session-back', this.onSessionBack)
    provider.connect()
  }

  get connected () { return this.provider.wsconnected }
  get connecting () { return this.provider.wsconnecting || (!this.provider.wsconnected && this.provider.shouldConnect) }
  get synced () { return this.provider.wsconnected && this.provider.synced }
  get pending () { return !this.shapeRefused && this.localSeq > this.ackedSeq }
  // A read-only zone never has anything of ours to save (the server would refuse it anyway).
  get saved () { return this.synced && (!this.writable || !this.pending) }

  /** The server refused a change of ours (4422) and never stored it: keep nothing of this
   * zone on the device, so the refused change is not sent again; the page then reloads the
   * zone from the server (status.js). */
  dropLocalChanges () {
    this.shapeRefused = true
    this.dropped = this.persistence ? this.persistence.clearData().catch(() => {}) : Promise.resolve()
    this.persistence = null
  }

  scheduleAck () {
    if (this.ackTimer || !this.pending) return
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null
      this.sendAck()
    }, ACK_DELAY_MS)
  }

  sendAck () {
    const ws = this.provider.ws
    if (!this.pending || !this.provider.wsconnected || !ws || ws.readyState !== ws.OPEN) return
    // Still waiting for the initial sync: its reply does not cover later changes, ask again after.
    if (this.pendingReplies.includes('connect')) return
    if (this.pendingReplies.includes(this.localSeq)) return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, messageSync)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    this.pendingReplies.push(this.localSeq)
    ws.send(encoding.toUint8Array(encoder))
  }

  destroy () {
    clearTimeout(this.ackTimer)
    window.removeEventListener('samplan:session-back', this.onSessionBack)
    this.provider.destroy()
    if (this.persistence) this.persistence.destroy()
    this.doc.destroy()
  }
}

/** ws://host/ws or wss://host/ws: the browser authenticates with its session cookie. */
export const wsBase = () => (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws'
