// Dates as people here write them: dd.mm.yyyy, times in Europe/Oslo, whatever the UI language.
const OSLO = 'Europe/Oslo'

const dateTimeParts = new Intl.DateTimeFormat('en-GB', {
  timeZone: OSLO,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23'
})

function parts (date) {
  const out = {}
  for (const { type, value } of dateTimeParts.formatToParts(date)) out[type] = value
  return out
}

/** 'YYYY-MM-DD' -> 'dd.mm.yyyy' (a calendar date: no time zone involved). */
export function formatDate (value) {
  if (typeof value !== 'string') return ''
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value)
  return m ? `${m[3]}.${m[2]}.${m[1]}` : value
}

/** ISO 8601 instant -> 'dd.mm.yyyy HH:MM' in Europe/Oslo. */
export function formatDateTime (value) {
  if (!value) return ''
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) return String(value)
  const p = parts(date)
  return `${p.day}.${p.month}.${p.year} ${p.hour}:${p.minute}`
}

/** Today's date in Oslo as 'YYYY-MM-DD'. */
export function todayOslo (now = new Date()) {
  const p = parts(now)
  return `${p.year}-${p.month}-${p.day}`
}

/** Now as the contract writes it: ISO 8601 UTC, whole seconds, 'Z'. */
export const utcNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

/**
 * What a person types as a date -> 'YYYY-MM-DD', '' for empty, null if it is not a date.
 * Accepts 15.01.2026, 15.1.26, 15/1/2026, 15-01-2026 and 2026-01-15.
 */
export function parseDate (text) {
  const value = String(text || '').trim()
  if (!value) return ''
  let d, m, y
  let match = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(value)
  if (match) [, y, m, d] = match
  else {
    match = /^(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})$/.exec(value)
    if (!match) return null
    ;[, d, m, y] = match
    if (y.length === 2) y = '20' + y
  }
  const iso = `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`
  const check = new Date(`${iso}T12:00:00Z`)
  if (Number.isNaN(check.getTime()) || check.toISOString().slice(0, 10) !== iso) return null
  return iso
}
