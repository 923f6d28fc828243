// The plan's closed message thread (comments zone, root `messages`), for every member who can
// read the comments zone. Collapsed at first with the count of unread messages; opening it
// (or following a notification's link to a message) marks this plan's messages read on the
// server, and so does a new message arriving while it is open. A message is posted (and its
// author edits it) through the server, which writes it for the signed-in person (./words.js);
// it reaches everyone through the zone, and the server notifies the other members.
import * as Y from 'yjs'
import { h, reconcile, safeId } from '../dom.js'
import { t } from '../i18n.js'
import { formatDateTime } from '../format.js'
import { post, alertLine, textOf } from './words.js'

export class Messages {
  constructor (zone, ctx, { planId, csrf, unread }) {
    this.zone = zone
    this.ctx = ctx
    this.planId = planId
    this.csrf = csrf
    this.unread = Number(unread) || 0
    this.items = new Map()
    this.array = zone.doc.getArray('messages')
    this.build()
    this.array.observeDeep(() => this.onChange())
    this.render()
    const hash = decodeURIComponent(location.hash || '')
    if (hash === '#messages' || hash.startsWith('#message-')) this.setOpen(true)
  }

  build () {
    const headingId = 'messages-heading'
    this.badge = h('span', { class: 'badge', dataset: { testid: 'messages-unread' } })
    this.toggle = h('button', {
      type: 'button', class: 'btn btn-small', 'aria-expanded': 'false', 'aria-controls': 'messages-panel',
      dataset: { testid: 'messages-toggle' }, onclick: () => this.setOpen(this.panel.hidden)
    })
    this.list = h('ol', { class: 'thread-list message-list', aria: { label: t('messages.list') }, dataset: { testid: 'message-list' } })
    this.empty = h('p', { class: 'muted' }, t('messages.none'))
    this.alert = alertLine('messages-error')
    this.panel = h('div', { id: 'messages-panel', hidden: true }, this.list, this.empty, this.alert)
    if (this.ctx.mayComment) {
      this.input = h('textarea', { id: 'message-input', class: 'input input-multi', rows: 3, 'data-native-undo': true, dataset: { testid: 'message-input' } })
      const submit = h('button', { type: 'button', class: 'btn', dataset: { testid: 'message-send' }, onclick: () => this.send() }, t('messages.send'))
      this.input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); this.send() }
      })
      this.panel.append(h('div', { class: 'thread-new' },
        h('label', { for: 'message-input', class: 'field-label' }, t('messages.new')), this.input,
        h('div', { class: 'row' }, submit, h('span', { class: 'hint' }, t('messages.hint')))))
    }
    this.el = h('section', { class: 'card', id: 'messages', aria: { labelledby: headingId }, dataset: { testid: 'section-messages' } },
      h('div', { class: 'section-head' }, h('h2', { id: headingId }, t('messages.heading'), ' ', this.badge), this.toggle),
      h('p', { class: 'hint' }, t('messages.intro')), this.panel)
  }

  get open () { return !this.panel.hidden }

  setOpen (open) {
    this.panel.hidden = !open
    this.toggle.setAttribute('aria-expanded', String(open))
    this.toggle.textContent = open ? t('messages.hide') : t('messages.show')
    if (open) {
      this.render()
      this.markRead()
      const target = location.hash.startsWith('#message-') ? document.getElementById(location.hash.slice(1)) : null
      if (target) target.scrollIntoView({ block: 'center' })
    }
  }

  async send () {
    const text = this.input.value.trim()
    if (!text) { this.alert.show(t('comments.error.empty')); this.input.focus(); return }
    const result = await post(this.ctx, '/messages', { text })
    if (result.ok) {
      this.alert.show('')
      this.input.value = ''
    } else {
      this.alert.show(result.error) // what was typed stays in the box
    }
    this.input.focus()
  }

  onChange () {
    this.render()
    if (this.open) {
      clearTimeout(this.readTimer)
      this.readTimer = setTimeout(() => this.markRead(), 1500) // after the server noticed it
    }
  }

  markRead () {
    const body = new URLSearchParams({ csrf_token: this.csrf || '' })
    fetch(`/plans/${encodeURIComponent(this.planId)}/messages/read`, { method: 'POST', body, credentials: 'same-origin' })
      .then((response) => { if (response.ok) { this.unread = 0; this.renderBadge() } })
      .catch(() => {})
  }

  renderBadge () {
    this.badge.textContent = this.unread ? t('messages.unread', { n: this.unread }) : ''
    this.badge.hidden = !this.unread
  }

  render () {
    if (!this.toggle.textContent) this.toggle.textContent = t('messages.show')
    this.renderBadge()
    if (!this.open) return
    const messages = this.array.toArray().filter((m) => m instanceof Y.Map)
    const nodes = messages.map((m) => {
      const id = String(m.get('id'))
      let el = this.items.get(id)
      if (!el) { el = this.element(m, id); this.items.set(id, el) }
      el.update()
      return el
    })
    reconcile(this.list, nodes)
    this.empty.hidden = nodes.length > 0
  }

  element (m, id) {
    const author = h('span', { class: 'comment-author' })
    const time = h('time', { class: 'comment-time' })
    const edited = h('span', { class: 'comment-edited muted', dataset: { testid: `message-edited-${id}` } })
    const text = h('p', { class: 'comment-text' })
    const editor = h('div', { class: 'comment-editor', hidden: true })
    const actions = h('div', { class: 'row comment-actions' })
    let editing = false
    const li = h('li', { class: 'comment message', id: `message-${safeId(id)}`, dataset: { testid: `message-${id}` } },
      h('div', { class: 'comment-meta' }, author, ' ', time, ' ', edited), text, editor, actions)
    const edit = h('button', {
      type: 'button', class: 'btn btn-link', dataset: { testid: `message-edit-${id}` }, onclick: () => startEdit()
    }, t('messages.edit'))
    const startEdit = () => {
      editing = true
      const inputId = `message-edit-input-${safeId(id)}`
      const input = h('textarea', {
        id: inputId, class: 'input input-multi', rows: 3, 'data-native-undo': true,
        dataset: { testid: `message-edit-input-${id}` }, value: textOf(m.get('text'))
      })
      const stop = () => { editing = false; editor.hidden = true; editor.replaceChildren(); li.update(); edit.focus() }
      const save = async () => {
        const value = input.value.trim()
        if (!value) { this.alert.show(t('comments.error.empty')); input.focus(); return }
        const result = await post(this.ctx, `/messages/${encodeURIComponent(id)}/edit`, { text: value })
        this.alert.show(result.ok ? '' : result.error)
        if (result.ok) stop()
        else input.focus()
      }
      editor.replaceChildren(
        h('label', { for: inputId, class: 'field-label' }, t('messages.editLabel')), input,
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: `message-save-${id}` }, onclick: save }, t('comments.save')),
          h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: stop }, t('comments.cancel'))))
      editor.hidden = false
      text.hidden = true
      actions.hidden = true
      input.focus()
    }
    li.update = () => {
      author.textContent = m.get('authorName') || t('member.unknown')
      time.textContent = formatDateTime(m.get('createdAt'))
      if (m.get('createdAt')) time.setAttribute('datetime', m.get('createdAt'))
      edited.textContent = m.get('editedAt') ? t('comments.edited', { time: formatDateTime(m.get('editedAt')) }) : ''
      text.textContent = textOf(m.get('text'))
      if (editing) return
      text.hidden = false
      actions.hidden = false
      const mine = String(m.get('authorId') ?? '') === String(this.ctx.me.id)
      actions.replaceChildren(...(this.ctx.mayComment && mine ? [edit] : []))
    }
    return li
  }
}
