// One life area (an area zone): goals as a tree (parentId), under each goal its measures
// (tiltak) and evaluations, all edited in place. Views are kept per item and only moved
// when the order or the tree changes, so a remote change never steals the caret.
import * as Y from 'yjs'
import { h, uid, safeId, reconcile, focusSoon } from '../dom.js'
import { t } from '../i18n.js'
import { formatDate, formatDateTime, todayOslo } from '../format.js'
import { textField, plainField, selectField, responsibleField, watchKey } from './fields.js'
import { richText } from './richtext.js'
import { bindTextContent } from './textbinding.js'
import { newItem, itemsOf, textOf, MEASURE_STATUSES, DONE_STATUSES, ATTAINMENTS } from './items.js'
import { AreaRecords, changedLine, lastWriterOf, nameOf } from './records.js'
import { OWN_WORDS, OWN_FIELDS, OWN_STATUS_FIELDS, ownOf, hasAny, statusParts, ownCredit } from './own.js'

const headingLevel = (depth) => Math.min(3 + depth, 6)

const OWNER_ROLES = new Set(['planeier', 'verge'])

/** "Historikk": opens the item's recorded changes (./records.js). */
function historyButton (view, root, describedBy) {
  return h('button', {
    type: 'button', class: 'btn btn-small btn-quiet btn-history', 'aria-haspopup': 'dialog',
    aria: { describedby: describedBy }, dataset: { testid: `history-${view.id}` },
    onclick: (event) => view.ctx.history.open({
      records: view.area.records, itemId: view.id, root, title: view.historyTitle(), opener: event.currentTarget
    })
  }, t('history.open'))
}

/** The heading of an item: kicker ("Mål M1", "Tiltak") + the title for screen readers. */
function itemHeading (map, kicker, level) {
  const id = uid('head')
  const srTitle = h('span', { class: 'sr-only' })
  const kick = h('span', { class: 'kicker-text' }, kicker)
  const el = h('div', { class: 'item-kicker', role: 'heading', 'aria-level': String(level), id }, kick, srTitle)
  let unbind = () => {}
  const unwatch = watchKey(map, 'title', () => {
    unbind()
    const title = map.get('title')
    if (title instanceof Y.Text) {
      const render = () => { srTitle.textContent = title.length ? ': ' + title.toString() : '' }
      render()
      title.observe(render)
      unbind = () => title.unobserve(render)
    } else {
      srTitle.textContent = textOf(title) ? ': ' + textOf(title) : ''
      unbind = () => {}
    }
  })
  return {
    el,
    id,
    setKicker: (text) => { kick.textContent = text },
    setLevel: (level) => el.setAttribute('aria-level', String(level)),
    destroy: () => { unwatch(); unbind() }
  }
}

class ItemView {
  constructor (area, map) {
    this.area = area
    this.ctx = area.ctx
    this.map = map
    this.id = map.get('id')
    this.cleanups = []
  }

  use (part) {
    if (part && part.destroy) this.cleanups.push(part.destroy)
    else if (typeof part === 'function') this.cleanups.push(part)
    return part
  }

  commentParts (describedBy) {
    const parts = this.ctx.comments.anchor(this.id, describedBy)
    if (parts) this.cleanups.push(() => this.ctx.comments.forget(this.id))
    return parts
  }

  destroy () {
    for (const fn of this.cleanups.splice(0)) {
      try { fn() } catch (error) { console.error(error) }
    }
    this.el.remove()
  }
}

class GoalView extends ItemView {
  constructor (area, map) {
    super(area, map)
    const { ctx } = this
    const key = safeId(this.id)
    this.heading = this.use(itemHeading(map, '', 3))
    const title = this.use(textField(ctx, map, 'title', {
      label: t('goal.title'), testid: `goal-title-${this.id}`, multiline: true, rows: 1, singleLine: true,
      className: 'title-input', describedBy: this.heading.id, hideLabel: true, bare: false
    }))
    this.titleControl = title.control
    const changed = this.use(changedLine(area.records, this.id))
    const own = this.use(ownPanel(this))
    const descriptionSlot = h('div', { class: 'description' })
    this.use(watchKey(map, 'description', () => this.mountDescription(descriptionSlot)))
    const comments = this.commentParts(this.heading.id)

    this.measuresEl = h('div', { class: 'measure-list' })
    this.evaluationsEl = h('div', { class: 'evaluation-list' })
    this.childrenEl = h('div', { class: 'subgoal-list' })

    const actions = h('div', { class: 'item-actions' }, historyButton(this, 'goals', this.heading.id), comments && comments.button)
    const addRow = h('div', { class: 'add-row' })
    if (ctx.writable) {
      actions.append(h('button', {
        type: 'button', class: 'btn btn-small btn-quiet btn-remove', aria: { describedby: this.heading.id },
        dataset: { testid: `remove-goal-${this.id}` }, onclick: () => area.removeGoal(this.map)
      }, t('item.remove')))
      addRow.append(
        h('button', {
          type: 'button', class: 'btn btn-small btn-quiet btn-add', aria: { describedby: this.heading.id },
          dataset: { testid: `add-measure-${this.id}` }, onclick: () => area.addMeasure(this.id)
        }, t('measure.add')),
        h('button', {
          type: 'button', class: 'btn btn-small btn-quiet btn-add', aria: { describedby: this.heading.id },
          dataset: { testid: `add-subgoal-${this.id}` }, onclick: () => area.addGoal(this.id)
        }, t('goal.addSub')),
        h('button', {
          type: 'button', class: 'btn btn-small btn-quiet btn-add', aria: { describedby: this.heading.id },
          dataset: { testid: `add-evaluation-${this.id}` }, onclick: () => area.addEvaluation(this.id)
        }, t('evaluation.add'))
      )
    }
    this.el = h('article', {
      class: 'goal', id: `goal-${key}`, aria: { labelledby: this.heading.id }, dataset: { testid: `goal-${this.id}` }
    },
    h('div', { class: 'item-head' }, this.heading.el, actions),
    title.el, changed.el, own.el, descriptionSlot,
    comments && comments.panel,
    this.measuresEl, this.evaluationsEl, addRow, this.childrenEl)
    this.use(watchKey(map, 'label', () => this.renderKicker()))
  }

  mountDescription (slot) {
    if (this.editor) { this.editor.destroy(); this.editor = null }
    const fragment = this.map.get('description')
    if (!(fragment instanceof Y.XmlFragment)) {
      slot.replaceChildren()
      return
    }
    const { ctx } = this
    this.editor = richText({
      fragment,
      provider: ctx.provider,
      user: ctx.user,
      editable: ctx.writable,
      label: t('goal.descriptionOf', { label: this.kickerText() }),
      placeholder: ctx.writable ? t('item.descriptionPlaceholder') : '',
      testid: `goal-description-${this.id}`,
      optional: true
    })
    slot.replaceChildren(this.editor.el)
  }

  kickerText () {
    const label = this.map.get('label')
    const isSub = this.depth > 0
    const base = isSub ? t('goal.sub') : t('goal.main')
    return typeof label === 'string' && label ? `${base} ${label}` : base
  }

  renderKicker () {
    this.heading.setKicker(this.kickerText())
    if (this.titleControl && this.titleControl.setAttribute && this.titleControl.tagName !== 'SPAN') {
      this.titleControl.setAttribute('aria-label', t('goal.titleOf', { label: this.kickerText() }))
    }
  }

  historyTitle () {
    const title = textOf(this.map.get('title'))
    return title ? `${this.kickerText()}: ${title}` : this.kickerText()
  }

  setDepth (depth) {
    if (this.depth === depth) return
    this.depth = depth
    this.heading.setLevel(headingLevel(depth))
    this.el.dataset.depth = String(depth)
    this.el.classList.toggle('subgoal', depth > 0)
    this.renderKicker()
    for (const view of this.area.measureViews.values()) if (view.goalId === this.id) view.setLevel(headingLevel(depth) + 1)
  }

  destroy () {
    if (this.editor) this.editor.destroy()
    super.destroy()
  }
}

/**
 * The person's own words and status on a goal (written from Min plan, ./own.js), read-only
 * here, with who wrote each by the server's records. A polite live region: when the person
 * changes their status, a screen reader here hears it.
 */
function ownPanel (view) {
  const { map, area, ctx } = view
  const el = h('div', { class: 'own-words', role: 'status', aria: { live: 'polite' }, dataset: { testid: `own-${view.id}` } })
  const roleOf = (id) => { const member = ctx.membersById.get(id); return member ? member.role : null }
  const byline = (kind, fields, own) => {
    const found = ownCredit({ records: area.records, zone: area.zone, itemId: view.id, fields, own, roleOf, me: null })
    let text = ''
    if (found.entry && found.credit === 'owner') text = t('own.byOwner', { name: nameOf(found.entry), when: formatDateTime(found.entry.at) })
    else if (found.entry) text = t('own.byOther', { name: nameOf(found.entry), when: formatDateTime(found.entry.at) })
    else if (found.credit === 'unknown') text = t('own.byUnknown')
    return h('p', { class: 'changed own-by', dataset: { testid: `own-${kind}-by-${view.id}`, credit: found.credit } }, text)
  }
  let last = ''
  const render = () => {
    const own = ownOf(map)
    const parts = []
    if (own.ownWords) {
      parts.push(h('p', { dataset: { testid: `own-words-${view.id}` } }, h('strong', {}, `${t('own.words')}:`), ' ', own.ownWords),
        byline('words', [OWN_WORDS], own))
    }
    if (hasAny(own, OWN_STATUS_FIELDS)) {
      parts.push(h('p', { dataset: { testid: `own-status-${view.id}` } }, h('strong', {}, `${t('own.status')}:`), statusParts(own)),
        byline('status', OWN_STATUS_FIELDS, own))
    }
    // Only a real change is put into the live region (a records refresh that says the same
    // is not announced again).
    const text = parts.map((part) => part.textContent + '|' + (part.dataset.credit || '')).join('\n')
    if (text === last) return
    last = text
    el.replaceChildren(...parts)
  }
  const unwatch = OWN_FIELDS.map((field) => watchKey(map, field, render))
  const unrecords = area.records.watch(render)
  return { el, destroy: () => { unwatch.forEach((fn) => fn()); unrecords() } }
}

class MeasureView extends ItemView {
  constructor (area, map) {
    super(area, map)
    const { ctx } = this
    this.heading = this.use(itemHeading(map, t('measure.kicker'), 4))
    const d = this.heading.id
    const title = this.use(textField(ctx, map, 'title', {
      label: t('measure.title'), testid: `measure-title-${this.id}`, multiline: true, rows: 1, singleLine: true,
      className: 'title-input', describedBy: d, hideLabel: true, ariaLabel: t('measure.titleAria')
    }))
    const overdue = h('span', { class: 'badge badge-warn', hidden: true }, t('measure.overdue'))
    const fields = h('div', { class: 'field-grid' },
      this.use(selectField(ctx, map, 'status', { label: t('measure.status'), values: MEASURE_STATUSES, prefix: 'measureStatus', describedBy: d, testid: `measure-status-${this.id}` })).el,
      this.use(plainField(ctx, map, 'start', { label: t('measure.start'), type: 'date', describedBy: d, testid: `measure-start-${this.id}` })).el,
      this.use(plainField(ctx, map, 'end', { label: t('measure.end'), type: 'date', describedBy: d, testid: `measure-end-${this.id}` })).el,
      this.use(plainField(ctx, map, 'scope', { label: t('measure.scope'), describedBy: d, testid: `measure-scope-${this.id}` })).el,
      this.use(plainField(ctx, map, 'externalParty', { label: t('measure.externalParty'), describedBy: d, testid: `measure-external-${this.id}` })).el,
      this.use(responsibleField(ctx, map, 'responsible', { label: t('measure.responsible'), describedBy: d, testid: `measure-responsible-${this.id}` })).el
    )
    const renderOverdue = () => {
      const end = map.get('end')
      const late = typeof end === 'string' && end < todayOslo() && !DONE_STATUSES.has(map.get('status'))
      overdue.hidden = !late
      this.el && this.el.classList.toggle('overdue', late)
    }
    const descriptionSlot = h('div', { class: 'description' })
    const fragment = map.get('description')
    if (fragment instanceof Y.XmlFragment) {
      this.editor = richText({
        fragment,
        provider: ctx.provider,
        user: ctx.user,
        editable: ctx.writable,
        label: t('measure.description'),
        placeholder: ctx.writable ? t('item.descriptionPlaceholder') : '',
        testid: `measure-description-${this.id}`,
        optional: true
      })
      descriptionSlot.append(this.editor.el)
    }
    const changed = this.use(changedLine(area.records, this.id))
    const comments = this.commentParts(d)
    const actions = h('div', { class: 'item-actions' }, overdue, historyButton(this, 'measures', d), comments && comments.button)
    if (ctx.writable) {
      actions.append(h('button', {
        type: 'button', class: 'btn btn-small btn-quiet btn-remove', aria: { describedby: d },
        dataset: { testid: `remove-measure-${this.id}` }, onclick: () => area.removeItems('measure', [this.map])
      }, t('item.remove')))
    }
    this.el = h('article', { class: 'measure', id: `measure-${safeId(this.id)}`, aria: { labelledby: d }, dataset: { testid: `measure-${this.id}` } },
      h('div', { class: 'item-head' }, this.heading.el, actions),
      title.el, fields, descriptionSlot, changed.el, comments && comments.panel)
    this.use(watchKey(map, 'end', renderOverdue))
    this.use(watchKey(map, 'status', renderOverdue))
  }

  historyTitle () {
    const title = textOf(this.map.get('title'))
    return title ? `${t('measure.kicker')}: ${title}` : t('measure.kicker')
  }

  get goalId () { return this.map.get('goalId') }
  setLevel (level) { this.heading.setLevel(Math.min(level, 6)) }
  destroy () {
    if (this.editor) this.editor.destroy()
    super.destroy()
  }
}

class EvaluationView extends ItemView {
  constructor (area, map) {
    super(area, map)
    const { ctx } = this
    this.heading = this.use(itemHeading(map, t('evaluation.kicker'), 4))
    const d = this.heading.id
    const summary = h('summary', { class: 'evaluation-summary' })
    const renderSummary = () => {
      const parts = [t('evaluation.kicker')]
      if (map.get('date')) parts.push(formatDate(map.get('date')))
      const attainment = map.get('attainment')
      if (attainment) parts.push(t(`attainment.${attainment}`))
      summary.textContent = parts.join(' – ')
    }
    this.use(watchKey(map, 'date', renderSummary))
    this.use(watchKey(map, 'attainment', renderSummary))
    const text = (key, label) => this.use(textField(ctx, map, key, { label, multiline: true, rows: 2, describedBy: d, wide: true })).el
    const body = h('div', { class: 'field-grid' },
      this.use(plainField(ctx, map, 'date', { label: t('evaluation.date'), type: 'date', describedBy: d })).el,
      this.use(selectField(ctx, map, 'attainment', { label: t('evaluation.attainment'), values: ATTAINMENTS, prefix: 'attainment', describedBy: d, allowEmpty: true })).el,
      text('result', t('evaluation.result')),
      text('worked', t('evaluation.worked')),
      text('change', t('evaluation.change')),
      text('next', t('evaluation.next')),
      this.use(responsibleField(ctx, map, 'responsible', { label: t('evaluation.responsible'), describedBy: d })).el,
      this.use(plainField(ctx, map, 'nextReview', { label: t('evaluation.nextReview'), type: 'date', describedBy: d })).el,
      this.ownerComment(text('ownerComment', t('evaluation.ownerComment')))
    )
    const changed = this.use(changedLine(area.records, this.id))
    const comments = this.commentParts(d)
    const actions = h('div', { class: 'item-actions' }, historyButton(this, 'evaluations', d), comments && comments.button)
    if (ctx.writable) {
      actions.append(h('button', {
        type: 'button', class: 'btn btn-small btn-quiet btn-remove', aria: { describedby: d },
        onclick: () => area.removeItems('evaluation', [this.map])
      }, t('item.remove')))
    }
    // The heading stays outside <details> so the outline shows every evaluation.
    this.heading.el.classList.add('sr-only')
    this.details = h('details', { class: 'evaluation-details' }, summary, body, changed.el)
    this.el = h('article', { class: 'evaluation', aria: { labelledby: d }, dataset: { testid: `evaluation-${this.id}` } },
      this.heading.el, h('div', { class: 'item-head' }, this.details, actions), comments && comments.panel)
  }

  /**
   * Under the comment: who wrote it, per the server's record. It is only called the
   * planeier's comment when that writer is the planeier or the verge; words are credited
   * only to whoever the server saw write them.
   */
  ownerComment (fieldEl) {
    const label = fieldEl.querySelector('.field-label')
    const byline = h('p', { class: 'changed comment-byline', dataset: { testid: `owner-comment-by-${this.id}` } })
    fieldEl.append(byline)
    const render = () => {
      const text = textOf(this.map.get('ownerComment'))
      const writer = lastWriterOf(this.area.records, this.id, 'ownerComment')
      const change = writer && writer.fields.find((f) => f.field === 'ownerComment')
      // Credited only when the record has these very words (it may lag a keystroke behind).
      const credited = Boolean(text && change && change.new === text)
      const member = credited && writer.userId != null ? this.ctx.membersById.get(String(writer.userId)) : null
      const byOwner = Boolean(member && OWNER_ROLES.has(member.role))
      const vars = credited ? { name: nameOf(writer), when: formatDateTime(writer.at) } : {}
      label.textContent = !text || byOwner ? t('evaluation.ownerComment') : t('evaluation.comment')
      if (!text) byline.textContent = ''
      else if (byOwner) byline.textContent = t('evaluation.ownerCommentBy', vars)
      else if (credited) byline.textContent = t('evaluation.commentBy', vars)
      else byline.textContent = this.area.records.loaded && !this.area.records.stale && !this.area.zone.pending && writer == null ? t('evaluation.commentUnknown') : ''
      byline.dataset.credit = !text ? 'empty' : byOwner ? 'owner' : credited ? 'other' : 'unknown'
    }
    let unobserve = () => {}
    this.use(watchKey(this.map, 'ownerComment', () => {
      unobserve()
      const value = this.map.get('ownerComment')
      if (value instanceof Y.Text) {
        value.observe(render)
        unobserve = () => value.unobserve(render)
      } else unobserve = () => {}
      render()
    }))
    this.use(() => unobserve())
    this.use(this.area.records.watch(render))
    return fieldEl
  }

  historyTitle () {
    const date = this.map.get('date')
    return date ? `${t('evaluation.kicker')} ${formatDate(date)}` : t('evaluation.kicker')
  }

  get goalId () { return this.map.get('goalId') }
  setLevel (level) { this.heading.setLevel(Math.min(level, 6)) }
}

export class AreaView {
  constructor (zone, ctx) {
    this.zone = zone
    this.ctx = ctx
    const doc = zone.doc
    this.goals = doc.getArray('goals')
    this.measures = doc.getArray('measures')
    this.evaluations = doc.getArray('evaluations')
    // Who changed what, from the server's record (never the document's updatedBy).
    this.records = new AreaRecords(zone, ctx.planId)
    this.goalViews = new Map()
    this.measureViews = new Map()
    this.evaluationViews = new Map()

    const headingId = `area-${safeId(zone.key)}-heading`
    this.rootList = h('div', { class: 'goal-list' })
    this.orphans = h('div', { class: 'orphans', hidden: true },
      h('h3', {}, t('measure.orphans')), this.orphanList = h('div', { class: 'measure-list' }))
    this.empty = h('p', { class: 'muted' }, t('area.empty'))
    const readonlyNote = zone.writable ? null : h('p', { class: 'note' }, t('zone.readonly'))
    const add = zone.writable
      ? h('button', {
        type: 'button', class: 'btn btn-add', dataset: { testid: `add-goal-${zone.key}` },
        aria: { describedby: headingId }, onclick: () => this.addGoal(null)
      }, t('goal.add'))
      : null
    this.el = h('section', { class: 'area card', id: `area-${safeId(zone.key)}`, aria: { labelledby: headingId }, dataset: { testid: `area-${zone.key}` } },
      h('div', { class: 'section-head' }, h('h2', { id: headingId }, zone.spec.title || zone.key)),
      zone.spec.hint ? h('p', { class: 'hint area-hint', dataset: { testid: `area-hint-${zone.key}` } }, zone.spec.hint) : null,
      readonlyNote, this.empty, this.rootList, this.orphans, add)

    const roots = [this.goals, this.measures, this.evaluations]
    for (const root of roots) {
      root.observeDeep((events) => {
        const relevant = events.some((e) => e.target === root ||
          (e.target.parent === root && e.keysChanged && (e.keysChanged.has('parentId') || e.keysChanged.has('goalId') || e.keysChanged.has('id'))))
        if (relevant) this.structure()
      })
    }
    this.structure()
  }

  /** Build, reuse or drop views and put them in tree order. */
  structure () {
    const ctx = this.ctx
    const sync = (maps, views, View) => {
      const seen = new Set()
      for (const map of maps) {
        const id = map.get('id')
        seen.add(id)
        const view = views.get(id)
        if (view && view.map === map) continue
        if (view) view.destroy() // the same id, a new map (restored by undo): rebind
        views.set(id, new View(this, map))
      }
      for (const [id, view] of views) if (!seen.has(id)) { view.destroy(); views.delete(id) }
    }
    const goals = itemsOf(this.goals)
    sync(goals, this.goalViews, GoalView)
    sync(itemsOf(this.measures), this.measureViews, MeasureView)
    sync(itemsOf(this.evaluations), this.evaluationViews, EvaluationView)

    // The tree. A goal whose parent is gone (or a cycle made by two concurrent moves) is shown
    // at the top level: never hide anything someone wrote.
    const children = new Map()
    const ids = new Set(goals.map((g) => g.get('id')))
    for (const g of goals) {
      const parent = g.get('parentId')
      const key = typeof parent === 'string' && ids.has(parent) && parent !== g.get('id') ? parent : null
      if (!children.has(key)) children.set(key, [])
      children.get(key).push(this.goalViews.get(g.get('id')))
    }
    const placed = new Set()
    const place = (view, depth) => {
      placed.add(view.id)
      view.setDepth(depth)
      const kids = (children.get(view.id) || []).filter((k) => !placed.has(k.id))
      kids.forEach((k) => place(k, depth + 1))
      reconcile(view.childrenEl, kids.map((k) => k.el))
    }
    const top = [...(children.get(null) || [])]
    top.forEach((v) => place(v, 0))
    for (const view of this.goalViews.values()) {
      if (!placed.has(view.id)) { top.push(view); place(view, 0) }
    }
    reconcile(this.rootList, top.map((v) => v.el))

    const byGoal = (views) => {
      const groups = new Map()
      const orphans = []
      for (const view of views.values()) {
        const goal = this.goalViews.get(view.goalId)
        if (!goal) { orphans.push(view); continue }
        if (!groups.has(goal)) groups.set(goal, [])
        groups.get(goal).push(view)
      }
      return { groups, orphans }
    }
    const measures = byGoal(this.measureViews)
    const evaluations = byGoal(this.evaluationViews)
    for (const goal of this.goalViews.values()) {
      const level = headingLevel(goal.depth) + 1
      const ms = measures.groups.get(goal) || []
      const es = evaluations.groups.get(goal) || []
      ms.forEach((m) => m.setLevel(level))
      es.forEach((e) => e.setLevel(level))
      reconcile(goal.measuresEl, ms.map((m) => m.el))
      reconcile(goal.evaluationsEl, es.map((e) => e.el))
    }
    const orphans = [...measures.orphans, ...evaluations.orphans]
    orphans.forEach((v) => v.setLevel(4))
    reconcile(this.orphanList, orphans.map((v) => v.el))
    this.orphans.hidden = orphans.length === 0
    this.empty.hidden = goals.length > 0
    if (this.ctx.onStructure) this.ctx.onStructure()
  }

  transact (fn) {
    this.zone.doc.transact(fn, this.zone.origin)
  }

  addGoal (parentId) {
    const label = this.ctx.nextGoalLabel(parentId ? this.goalViews.get(parentId)?.map.get('label') : null, this.zone)
    const item = newItem({
      parentId: parentId || null, label, title: '', description: null
    })
    this.ctx.undo.stopCapturing()
    this.transact(() => this.goals.push([item]))
    this.ctx.undo.stopCapturing()
    this.focusNew(`goal-title-${item.get('id')}`)
  }

  addMeasure (goalId) {
    const item = newItem({
      goalId, title: '', description: null, responsible: [], externalParty: '', scope: '',
      start: null, end: null, status: 'ikke_startet', meetingId: null
    })
    this.ctx.undo.stopCapturing()
    this.transact(() => this.measures.push([item]))
    this.ctx.undo.stopCapturing()
    this.focusNew(`measure-title-${item.get('id')}`)
  }

  addEvaluation (goalId) {
    const item = newItem({
      goalId, date: todayOslo(), attainment: null, result: '', worked: '', change: '', next: '',
      responsible: [], nextReview: null, ownerComment: ''
    })
    this.ctx.undo.stopCapturing()
    this.transact(() => this.evaluations.push([item]))
    this.ctx.undo.stopCapturing()
    const view = this.evaluationViews.get(item.get('id'))
    if (view) {
      view.details.open = true
      focusSoon(() => view.details.querySelector('input, select, textarea'))
    }
  }

  /** A goal goes with everything under it: sub-goals, their measures and evaluations. */
  removeGoal (map) {
    const ids = new Set([map.get('id')])
    let grew = true
    const goals = itemsOf(this.goals)
    while (grew) {
      grew = false
      for (const g of goals) {
        if (!ids.has(g.get('id')) && ids.has(g.get('parentId'))) { ids.add(g.get('id')); grew = true }
      }
    }
    const items = [
      ...goals.filter((g) => ids.has(g.get('id'))).map((m) => ({ array: this.goals, map: m })),
      ...itemsOf(this.measures).filter((m) => ids.has(m.get('goalId'))).map((m) => ({ array: this.measures, map: m })),
      ...itemsOf(this.evaluations).filter((m) => ids.has(m.get('goalId'))).map((m) => ({ array: this.evaluations, map: m }))
    ]
    const title = textOf(map.get('title')) || t('item.untitled')
    const extra = items.length - 1
    const text = extra > 0 ? t('remove.goalWith', { title, n: extra }) : t('remove.goal', { title })
    this.ctx.removals.remove(this.zone, items, text, () => this.focus(`goal-title-${map.get('id')}`))
  }

  removeItems (kind, maps) {
    const array = kind === 'measure' ? this.measures : this.evaluations
    const title = kind === 'measure' ? (textOf(maps[0].get('title')) || t('item.untitled')) : formatDate(maps[0].get('date'))
    const id = maps[0].get('id')
    this.ctx.removals.remove(this.zone, maps.map((map) => ({ array, map })), t(`remove.${kind}`, { title }),
      () => this.focus(kind === 'measure' ? `measure-title-${id}` : `evaluation-${id}`))
  }

  /** The control to focus for `testid`: the element itself or the first control inside it. */
  control (testid) {
    const el = this.el.querySelector(`[data-testid="${CSS.escape(testid)}"]`)
    if (!el) return null
    return el.matches('input, textarea, select, button, summary') ? el : el.querySelector('input, textarea, select, button, summary')
  }

  focus (testid) { this.control(testid)?.focus() }

  focusNew (testid) { focusSoon(() => this.control(testid)) }

  labels () { return itemsOf(this.goals).map((g) => g.get('label')).filter((l) => typeof l === 'string') }

  /** Goals, measures and evaluations in plain form, for the overview. */
  summary () {
    return {
      goals: itemsOf(this.goals),
      measures: itemsOf(this.measures),
      evaluations: itemsOf(this.evaluations)
    }
  }
}

// Re-exported for the content sections' read-only text.
export { bindTextContent }
