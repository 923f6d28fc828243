// "Notater før møtet" on the meeting page (server/meetings/notes.py): the notes this member
// may read (the koordinator: those shared with the koordinator or the group; the others:
// those shared with the group), fetched from the checked route and again whenever /events
// says a note of this meeting changed (the event carries no words). The koordinator can
// propose a note for the agenda; it goes on only when the person says yes on Min plan.
import { h, reconcile } from '../dom.js'
import { t } from '../i18n.js'

const kindText = (kind) => ({ topic: t('notes.kind.topic'), good: t('notes.kind.good'), hard: t('notes.kind.hard') })[kind] || ''
const whoText = (who) => ({ me: t('notes.audience.me'), koordinator: t('notes.audience.koordinator'), group: t('notes.audience.group') })[who] || ''

export function start (root) {
  const planId = root.dataset.plan
  const meetingId = root.dataset.meeting
  const mayPropose = root.dataset.mayPropose === 'true'
  const list = root.querySelector('[data-testid="meeting-notes-list"]')
  const live = root.querySelector('[data-testid="meeting-notes-live"]')
  const base = `/plans/${encodeURIComponent(planId)}/meetings/${encodeURIComponent(meetingId)}/notes`
  let shown = null

  const say = (text) => {
    live.textContent = ''
    window.setTimeout(() => { live.textContent = text }, 50)
  }

  const propose = async (note) => {
    let response
    try {
      response = await fetch(`${base}/${encodeURIComponent(note.id)}/propose`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ csrf_token: root.dataset.csrf || '' })
      })
    } catch {
      say(t('min.noteError'))
      return
    }
    let answer = {}
    try { answer = await response.json() } catch {}
    say(response.ok ? t('notes.proposedNow', { name: note.author }) : (answer.error || t('min.noteError')))
    await load()
  }

  const item = (note) => {
    let state = null
    if (note.onAgenda) state = h('p', { dataset: { testid: 'meeting-note-on-agenda' } }, h('strong', {}, t('notes.onAgenda', { name: note.author })))
    else if (note.answer === 'no') state = h('p', { dataset: { testid: 'meeting-note-declined' } }, t('notes.declined', { name: note.author }))
    else if (note.proposed) state = h('p', { dataset: { testid: 'meeting-note-waiting' } }, t('notes.waiting', { name: note.author }))
    const textId = `meeting-note-${note.id}`
    return h('li', { class: 'min-item', dataset: { testid: 'meeting-note', id: note.id } },
      h('p', { class: 'min-meta' }, `${kindText(note.kind)} · ${whoText(note.audience)} · ${t('notes.by', { name: note.author })}`),
      h('p', { class: 'min-note-body', id: textId, dataset: { testid: 'meeting-note-body' } }, note.text),
      state,
      mayPropose && !note.onAgenda && !note.proposed
        ? h('button', { type: 'button', class: 'btn btn-small', 'aria-describedby': textId, dataset: { testid: 'meeting-note-propose' }, onclick: () => propose(note) }, t('notes.propose'))
        : null)
  }

  const load = async () => {
    let notes
    try {
      const response = await fetch(base, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      if (!response.ok) return
      notes = (await response.json()).notes || []
    } catch {
      return
    }
    const view = JSON.stringify(notes)
    const changed = shown !== null && view !== shown
    shown = view
    reconcile(list, notes.length ? notes.map(item) : [h('li', { class: 'min-item' }, t('notes.none'))])
    list.dataset.loaded = 'true'
    if (changed) say(t('notes.live'))
  }

  window.addEventListener('samplan:meeting_note', (event) => {
    const detail = event.detail || {}
    if (detail.planId === planId && detail.meetingId === meetingId) load()
  })
  window.addEventListener('samplan:events-open', () => load())
  load()
}
