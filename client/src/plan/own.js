// A goal's own words (issue 13, "My words"): the person's "Jeg vil ..." and their own status
// (how it goes, an emoji, a sentence), written from Min plan (client/src/min/app.js) and shown
// on both Min plan and the full plan page (./area.js). The contract is crdt/schema.py
// (`OWN_FIELDS`, `OWN_STATUSES`, `OWN_EMOJIS`, `MAX_LENGTHS`): keep the two in step.
//
// Whose words they are comes from the server's records (./records.js), never from the
// document: the same rule as an evaluation's ownerComment (issue 11). The planeier's or the
// verge's only when the record shows them writing exactly what the fields hold now; anyone
// else is named; with no record, no one is.
import * as Y from 'yjs'
import { h } from '../dom.js'
import { tEnum } from '../i18n.js'

export const OWN_WORDS = 'ownWords'
export const OWN_STATUS_FIELDS = ['ownStatus', 'ownEmoji', 'ownNote']
export const OWN_FIELDS = [OWN_WORDS, ...OWN_STATUS_FIELDS]
export const OWN_STATUSES = ['bra', 'litt', 'ikke']
export const OWN_EMOJIS = ['😊', '🙂', '😐', '😟', '😢', '😡', '💪', '🎉']
export const MAX_LENGTHS = { ownWords: 500, ownNote: 280 }
export const OWNER_ROLES = new Set(['planeier', 'verge'])

/** Characters as the server counts them (code points: an emoji is one). */
export const lengthOf = (text) => [...String(text || '')].length

const plain = (value) => (value instanceof Y.Text ? value.toString() : typeof value === 'string' ? value : '')

/** The goal's own fields as plain values ('' when absent); values outside the contract
 * (only a crafted client could store them, and the server refuses them) read as absent. */
export function ownOf (map) {
  const status = map.get('ownStatus')
  const emoji = map.get('ownEmoji')
  return {
    ownWords: plain(map.get('ownWords')),
    ownStatus: OWN_STATUSES.includes(status) ? status : '',
    ownEmoji: OWN_EMOJIS.includes(emoji) ? emoji : '',
    ownNote: plain(map.get('ownNote'))
  }
}

export const hasAny = (own, fields) => fields.some((field) => Boolean(own[field]))

/** The emoji with its words for a screen reader, then "Går bra." and the sentence. */
export function statusParts (own) {
  const parts = []
  if (own.ownEmoji) parts.push(' ', h('span', { role: 'img', aria: { label: tEnum('ownEmoji', own.ownEmoji) }, dataset: { testid: 'own-emoji' } }, own.ownEmoji))
  if (own.ownStatus) parts.push(` ${tEnum('ownStatus', own.ownStatus)}.`)
  if (own.ownNote) parts.push(` ${own.ownNote}`)
  return parts
}

const empty = (value) => value === null || value === undefined || value === ''

/**
 * Who wrote these fields of the item, by the records: null when they are empty; else
 * {credit: 'me' | 'owner' | 'other' | 'unknown' | 'pending', entry}. 'pending' while the
 * records may lag what the document holds (a change not yet recorded or fetched): nobody is
 * credited with words the record does not show them writing.
 */
export function ownCredit ({ records, zone, itemId, fields, own, roleOf, me }) {
  if (!hasAny(own, fields)) return null
  const record = records.get(itemId)
  const recorded = {}
  let last = null
  for (const entry of record ? record.history : []) {
    if (entry.deleted) { last = null; for (const key of Object.keys(recorded)) delete recorded[key] }
    for (const change of entry.fields || []) {
      if (fields.includes(change.field) && !change.edited) { recorded[change.field] = change.new; last = entry }
    }
  }
  const matches = fields.every((field) => (empty(own[field]) && empty(recorded[field])) || recorded[field] === own[field])
  const settled = records.loaded && !records.stale && !zone.pending
  if (!last || !matches) return { credit: settled && !last ? 'unknown' : 'pending', entry: null }
  if (last.userId == null) return { credit: 'unknown', entry: null }
  if (me != null && String(last.userId) === String(me)) return { credit: 'me', entry: last }
  return { credit: OWNER_ROLES.has(roleOf(String(last.userId))) ? 'owner' : 'other', entry: last }
}
