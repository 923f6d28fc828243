// Comments anchored to a goal, measure or section (comments zone, root `comments`). Every
// anchor gets a button with the live count; it opens a small thread in place, with an input
// to add one. A reader (leser) may comment: the comments zone is writable for them.
import * as Y from 'yjs'
import { h, safeId, reconcile } from '../dom.js'
import { t } from '../i18n.js'
import { formatDateTime, utcNow } from '../format.js'

export class Comments {
  /** `zone` may be null (no access to comments): then anchors get no button. */
  constructor (zone, ctx) {
    this.zone = zone
    this.ctx = ctx
    this.anchors = new Map() // anchorId -> {button, panel, list, items: Map(id -> el), describedBy}
    if (!zone) return
    this.array = zone.doc.getArray('comments')
    this.array.observeDeep(() => this.refresh())
  }

  get enabled () { return Boolean(this.zone) }

  all (anchorId) {
    if (!this.array) return []
    return this.array.toArray().filter((c) => c instanceof Y.Map && c.get('anchorId') === anchorId)
  }

  /**
   * The toggle button and the (initially hidden) thread for one anchor. `describedBy`: id of
   * the element naming the item. Returns {button, panel} or null without a comments zone.
   */
  anchor (anchorId, describedBy) {
    if (!this.zone) return null
    const key = safeId(anchorId)
    const panelId = `comments-${key}`
    const button = h('button', {
      type: 'button', class: 'btn btn-small btn-quiet btn-comment', 'aria-expanded': 'false', 'aria-controls': panelId,
      aria: { describedby: describedBy }, dataset: { testid: `comment-toggle-${anchorId}` }
    })
    const panel = h('div', {
      id: panelId, class: 'thread', hidden: true, role: 'region',
      aria: { label: t('comments.thread') }, dataset: { testid: `comment-thread-${anchorId}` }
    })
    const list = h('ol', { class: 'thread-list' })
    const empty = h('p', { class: 'muted' }, t('comments.none'))
    panel.append(list, empty)
    if (this.zone.writable) {
      const inputId = `comment-input-${key}`
      const input = h('textarea', {
        id: inputId, class: 'input input-multi', rows: 2, 'data-native-undo': true,
        aria: { describedby: describedBy }, dataset: { testid: `comment-input-${anchorId}` }
      })
      const submit = h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: `comment-submit-${anchorId}` } }, t('comments.send'))
      const send = () => {
        const text = input.value.trim()
        if (!text) { input.focus(); return }
        this.add(anchorId, text)
        input.value = ''
        input.focus()
      }
      submit.addEventListener('click', send)
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send() }
      })
      panel.append(h('div', { class: 'thread-new' },
        h('label', { for: inputId, class: 'field-label' }, t('comments.new')), input,
        h('div', { class: 'row' }, submit, h('span', { class: 'hint' }, t('comments.hint')))))
    }
    button.addEventListener('click', () => {
      const open = panel.hidden
      panel.hidden = !open
      button.setAttribute('aria-expanded', String(open))
      if (open) {
        this.renderThread(anchorId)
        const input = panel.querySelector('textarea')
        if (input) input.focus()
      }
    })
    const entry = { button, panel, list, empty, items: new Map() }
    this.anchors.set(anchorId, entry)
    this.renderCount(anchorId)
    return { button, panel }
  }

  forget (anchorId) { this.anchors.delete(anchorId) }

  add (anchorId, text) {
    const { me } = this.ctx
    this.zone.doc.transact(() => {
      const item = new Y.Map()
      item.set('id', crypto.randomUUID())
      item.set('anchorId', anchorId)
      item.set('authorId', String(me.id))
      item.set('authorName', me.name)
      item.set('text', new Y.Text(text))
      item.set('createdAt', utcNow())
      item.set('resolved', false)
      this.array.push([item])
    }, this.zone.origin)
  }

  refresh () {
    for (const anchorId of this.anchors.keys()) {
      this.renderCount(anchorId)
      if (!this.anchors.get(anchorId).panel.hidden) this.renderThread(anchorId)
    }
  }

  renderCount (anchorId) {
    const entry = this.anchors.get(anchorId)
    const comments = this.all(anchorId)
    const open = comments.filter((c) => !c.get('resolved')).length
    entry.button.textContent = comments.length ? t('comments.count', { n: comments.length }) : t('comments.add')
    entry.button.dataset.count = String(comments.length)
    entry.button.classList.toggle('has-open', open > 0)
  }

  renderThread (anchorId) {
    const entry = this.anchors.get(anchorId)
    const comments = this.all(anchorId)
    const nodes = comments.map((c) => {
      const id = String(c.get('id'))
      let el = entry.items.get(id)
      if (!el) {
        el = this.commentElement(c)
        entry.items.set(id, el)
      }
      el.update()
      return el
    })
    reconcile(entry.list, nodes)
    entry.empty.hidden = nodes.length > 0
  }

  commentElement (c) {
    const author = h('span', { class: 'comment-author' })
    const time = h('time', { class: 'comment-time' })
    const text = h('p', { class: 'comment-text' })
    const state = h('span', { class: 'badge badge-done' }, t('comments.resolved'))
    const toggle = this.zone.writable
      ? h('button', { type: 'button', class: 'btn btn-link', onclick: () => {
        this.zone.doc.transact(() => c.set('resolved', !c.get('resolved')), this.zone.origin)
      } })
      : null
    const li = h('li', { class: 'comment' }, h('div', { class: 'comment-meta' }, author, ' ', time, ' ', state), text, toggle)
    li.update = () => {
      const value = c.get('text')
      author.textContent = c.get('authorName') || t('member.unknown')
      time.textContent = formatDateTime(c.get('createdAt'))
      if (c.get('createdAt')) time.setAttribute('datetime', c.get('createdAt'))
      text.textContent = value instanceof Y.Text ? value.toString() : String(value ?? '')
      const resolved = Boolean(c.get('resolved'))
      li.classList.toggle('resolved', resolved)
      state.hidden = !resolved
      if (toggle) toggle.textContent = resolved ? t('comments.reopen') : t('comments.resolve')
    }
    return li
  }
}
