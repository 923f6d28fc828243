// Creating list items exactly as the zone contract says (docs/schema.md, crdt/schema.py):
// a field's shared type depends on its name only.
import * as Y from 'yjs'

const TEXT_FIELDS = new Set(['title', 'text', 'decision', 'what', 'result', 'worked', 'change', 'next', 'ownerComment'])
const RICH_FIELDS = new Set(['description', 'body'])
const ARRAY_FIELDS = new Set(['responsible'])

export const MEASURE_STATUSES = ['ikke_startet', 'planlagt', 'soekt', 'pagar', 'fullfort', 'avsluttet']
export const DONE_STATUSES = new Set(['fullfort', 'avsluttet'])
export const ATTAINMENTS = ['naadd', 'delvis', 'ikke_naadd']
export const PLAN_STATUSES = ['utkast', 'aktiv', 'avsluttet']

/** A new Y.Map item with a fresh id; `values` are plain (strings, null, arrays of ids). */
export function newItem (values) {
  const item = new Y.Map()
  item.set('id', crypto.randomUUID())
  for (const [key, value] of Object.entries(values)) {
    if (TEXT_FIELDS.has(key)) item.set(key, new Y.Text(value || ''))
    else if (RICH_FIELDS.has(key)) item.set(key, new Y.XmlFragment())
    else if (ARRAY_FIELDS.has(key)) { const arr = new Y.Array(); if (value && value.length) arr.push(value.map(String)); item.set(key, arr) }
    else item.set(key, value)
  }
  return item
}

export const itemsOf = (array) => {
  const seen = new Set()
  const out = []
  for (const item of array.toArray()) {
    if (!(item instanceof Y.Map)) continue
    const id = item.get('id')
    if (typeof id !== 'string' || seen.has(id)) continue // tolerate what concurrency produces
    seen.add(id)
    out.push(item)
  }
  return out
}

export const textOf = (value) => (value instanceof Y.Text ? value.toString() : typeof value === 'string' ? value : '')
