// "Før møtet" on Min plan (server/meetings/notes.py): the person writes a note for a coming
// meeting and chooses who sees it; the list shows the notes they may read, and the
// koordinator's question "may we bring this up?" with a yes and a no. Everything goes through
// the server's checked routes; /events only says "something changed" (no words), and the
// list is fetched again. A refused note stays in the field with the reason beside it.
import { h, reconcile } from '../dom.js'
import { t } from '../i18n.js'

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' }
// Written out, so every string the page uses is found by its plain-language test.
const kindText = (kind) => ({ topic: t('min.kind.topic'), good: t('min.kind.good'), hard: t('min.kind.hard') })[kind] || ''
const whoText = (who) => ({ me: t('min.who.me'), koordinator: t('min.who.koordinator'), group: t('min.who.group') })[who] || ''

export function startNotes (root, data) {
  const planId = data.planId
  const base = (meetingId) => `/plans/${encodeURIComponent(planId)}/meetings/${encodeURIComponent(meetingId)}/notes`
  const lists = new Map()
  for (const list of root.querySelectorAll('[data-testid="min-notes"]')) lists.set(list.dataset.meeting, list)

  const post = async (url, body) => {
    let response
    try {
      response = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: JSON_HEADERS, body: JSON.stringify({ csrf_token: data.csrf || '', ...body }) })
    } catch {
      return { ok: false, error: t('min.noteError') }
    }
    let answer = {}
    try { answer = await response.json() } catch {}
    return response.ok ? { ok: true, ...answer } : { ok: false, error: answer.error || t('min.noteError') }
  }

  const say = (region, text) => {
    // Emptied first, so the same sentence twice is announced twice.
    region.textContent = ''
    window.setTimeout(() => { region.textContent = text }, 50)
  }

  const load = async (meetingId) => {
    const list = lists.get(meetingId)
    if (!list) return
    let notes
    try {
      const response = await fetch(base(meetingId), { credentials: 'same-origin', headers: { accept: 'application/json' } })
      if (!response.ok) return
      notes = (await response.json()).notes || []
    } catch {
      return
    }
    const status = list.closest('.min-note-meeting').querySelector('[data-testid="min-note-status"]')
    reconcile(list, notes.length ? notes.map((note) => noteItem(note, meetingId, status)) : [h('li', { class: 'min-item' }, t('min.notesNone'))])
    list.dataset.loaded = 'true'
  }

  const noteItem = (note, meetingId, status) => {
    const textId = `min-note-${note.id}`
    const answer = async (value) => {
      const result = await post(`${base(meetingId)}/${encodeURIComponent(note.id)}/answer`, { answer: value })
      say(status, result.ok ? t(value === 'yes' ? 'min.answerYes' : 'min.answerNo') : result.error)
      await load(meetingId)
    }
    const remove = async () => {
      const result = await post(`${base(meetingId)}/${encodeURIComponent(note.id)}/delete`, {})
      say(status, result.ok ? t('min.noteDeleted') : result.error)
      await load(meetingId)
    }
    let agenda = null
    if (note.onAgenda) agenda = h('p', { dataset: { testid: 'min-note-on-agenda' } }, h('strong', {}, t('min.onAgenda')))
    else if (note.answer === 'no') agenda = h('p', { dataset: { testid: 'min-note-declined' } }, t('min.declined'))
    let question = null
    if (note.proposed && note.mine) {
      question = h('div', { dataset: { testid: 'min-note-question' } },
        h('p', {}, h('strong', {}, t('min.proposed', { name: note.proposedBy }))),
        h('div', { class: 'min-note-actions' },
          h('button', { type: 'button', class: 'btn', 'aria-describedby': textId, dataset: { testid: 'min-note-yes' }, onclick: () => answer('yes') }, t('min.yes')),
          h('button', { type: 'button', class: 'btn', 'aria-describedby': textId, dataset: { testid: 'min-note-no' }, onclick: () => answer('no') }, t('min.no'))))
    }
    return h('li', { class: 'min-item', dataset: { testid: 'min-note', id: note.id } },
      h('p', { class: 'min-meta' }, `${kindText(note.kind)} · ${whoText(note.audience)}`),
      h('p', { class: 'min-note-body', id: textId, dataset: { testid: 'min-note-body' } }, note.text),
      note.mine ? null : h('p', { class: 'min-meta' }, t('min.noteBy', { name: note.author })),
      agenda,
      question,
      note.mine ? h('div', { class: 'min-note-actions' }, h('button', { type: 'button', class: 'btn btn-small', 'aria-describedby': textId, dataset: { testid: 'min-note-delete' }, onclick: remove }, t('min.noteDelete'))) : null)
  }

  for (const form of root.querySelectorAll('[data-testid="min-note-form"]')) {
    const meetingId = form.dataset.meeting
    const field = form.querySelector('textarea')
    const error = form.querySelector('[data-testid="min-note-error"]')
    const status = form.querySelector('[data-testid="min-note-status"]')
    const button = form.querySelector('button[type="submit"]')
    form.hidden = false // the server renders it hidden: it works only through this script
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      button.disabled = true
      const chosen = (name) => (form.querySelector(`input[name="${name}"]:checked`) || {}).value
      const result = await post(base(meetingId), { kind: chosen('kind'), audience: chosen('audience'), text: field.value })
      button.disabled = false
      if (result.ok) {
        field.value = ''
        field.removeAttribute('aria-invalid')
        error.textContent = ''
        say(status, t('min.noteSaved'))
        await load(meetingId)
      } else {
        // The words stay in the field; the reason is said at once and tied to the field.
        field.setAttribute('aria-invalid', 'true')
        error.textContent = ''
        say(status, `${result.error} ${t('min.noteKeep')}`)
        error.textContent = result.error
        field.focus()
      }
    })
  }

  window.addEventListener('samplan:meeting_note', (event) => {
    const detail = event.detail || {}
    if (detail.planId === planId && lists.has(detail.meetingId)) load(detail.meetingId)
  })
  // After a reconnect something may have changed unseen: fetch again.
  window.addEventListener('samplan:events-open', () => { for (const id of lists.keys()) load(id) })
  for (const id of lists.keys()) load(id)
}
