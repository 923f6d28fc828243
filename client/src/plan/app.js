// The plan page: reads app_data from #plan-app, opens one Y.Doc + WebsocketProvider per zone
// it may read, and renders the whole plan on one screen, edited in place, saved as you type.
import { h, safeColor } from '../dom.js'
import { t } from '../i18n.js'
import { Zone, wsBase } from './zones.js'
import { ConnectionStatus } from './status.js'
import { UndoHub, LocalOrigin } from './undo.js'
import { Removals } from './removal.js'
import { Comments } from './comments.js'
import { Messages } from './messages.js'
import { Presence } from './presence.js'
import { AreaView } from './area.js'
import { HistoryDialog, AreaRecords, changedLine } from './records.js'
import { section, richSection, metaSection, otherPlansSection, collaborationSection } from './content.js'
import { Overview } from './overview.js'
import { watchPublished } from './published.js'

const RENDERED_KINDS = new Set(['content', 'area', 'comments'])

export function start (root) {
  const data = JSON.parse(root.dataset.app)
  watchPublished(data.planId)
  const me = data.me
  const members = Array.isArray(data.members) ? data.members : []
  const membersById = new Map(members.map((m) => [String(m.id), m]))
  const user = { id: String(me.id), name: me.name, role: me.role, color: safeColor(me.color) }

  let status = null
  const areaViews = []
  let aboutMeRecords = null // who last wrote "Om meg" (the content zone's records)
  // A zone's saved state changed: its status, and its records if they wait for my changes.
  const onChange = () => {
    if (status) status.update()
    for (const view of areaViews) view.records.zoneChanged()
    if (aboutMeRecords) aboutMeRecords.zoneChanged()
  }
  const zones = data.zones
    .filter((spec) => RENDERED_KINDS.has(spec.kind))
    .map((spec) => {
      const zone = new Zone(spec, { wsBase: wsBase(), userId: me.id, ownDevice: Boolean(data.ownDevice), visit: data.visit, onChange })
      zone.origin = new LocalOrigin(spec.room)
      zone.provider.awareness.setLocalStateField('user', user)
      return zone
    })
  const docs = {}
  const providers = {}
  for (const zone of zones) { docs[zone.room] = zone.doc; providers[zone.room] = zone.provider }
  window.samplan = { docs, providers, zones }

  const undo = new UndoHub()
  const removals = new Removals(undo)
  const commentsZone = zones.find((z) => z.kind === 'comments') || null
  // Comments and messages are written through the server (./words.js), never the socket.
  const ctx = { me, user, members, membersById, undo, removals, planId: data.planId, csrf: data.csrf, mayComment: Boolean(data.mayComment) }
  ctx.comments = new Comments(commentsZone, ctx)

  ctx.history = new HistoryDialog()
  const zctxOf = (zone) => ({ ...ctx, zone, doc: zone.doc, origin: zone.origin, writable: zone.writable, provider: zone.provider })
  ctx.nextGoalLabel = (parentLabel, zone) => nextGoalLabel(parentLabel, zone, areaViews)

  // --- layout -------------------------------------------------------------------------------
  status = new ConnectionStatus(root, zones)
  const presence = new Presence(zones, ctx)
  const mainColumn = h('div', { class: 'plan-main' })
  const tocList = h('ul', { class: 'toc-list' })
  const toc = h('nav', { class: 'toc', aria: { label: t('toc.label') } }, h('p', { class: 'side-heading', 'aria-hidden': 'true' }, t('toc.heading')), tocList)
  const addToc = (id, text) => tocList.append(h('li', {}, h('a', { href: `#${id}` }, text)))

  const content = zones.find((z) => z.kind === 'content')
  const overview = new Overview(ctx, areaViews)
  if (content) {
    const zctx = zctxOf(content)
    if (content.writable) {
      undo.add(content, ['meta', 'collaboration', 'otherPlans'].map((name) =>
        name === 'meta' ? content.doc.getMap(name) : content.doc.getArray(name)), content.origin)
    }
    mainColumn.append(metaSection(ctx, zctx, overview.el))
    addToc('sec-meta', t('meta.heading'))
    for (const [root_, key, hint] of [['aboutMe', 'section.aboutMe', 'section.aboutMe.hint'], ['resources', 'section.resources', 'section.resources.hint'], ['needs', 'section.needs', 'section.needs.hint']]) {
      const el = richSection(ctx, zctx, root_, t(key), t(hint))
      if (root_ === 'aboutMe') {
        // Who last wrote "Om meg" (the person's own words, issue 13), by the server's records.
        aboutMeRecords = new AreaRecords(content, data.planId, `/plans/${encodeURIComponent(data.planId)}/content/changes`)
        el.querySelector('.section-body').append(changedLine(aboutMeRecords, 'aboutMe').el)
      }
      mainColumn.append(el)
      addToc(`sec-${root_}`, t(key))
    }
  }
  else {
    const s = section(ctx, { id: 'sec-overview', title: t('overview.heading'), testid: 'section-overview' })
    s.body.append(overview.el)
    mainColumn.append(s.el)
    addToc('sec-overview', t('overview.heading'))
  }
  const tocLinks = new Map()
  const areaView = (zone) => {
    const zctx = zctxOf(zone)
    if (zone.writable) {
      undo.add(zone, ['goals', 'measures', 'evaluations'].map((name) => zone.doc.getArray(name)), zone.origin)
    }
    const view = new AreaView(zone, { ...zctx, onStructure: () => overview.schedule() })
    zone.doc.on('update', () => overview.schedule())
    return view
  }
  // Where the areas go: before the Meldinger section, or at the end of the main column.
  const areasAnchor = h('div', { class: 'areas-end', hidden: true })
  for (const zone of zones.filter((z) => z.kind === 'area')) {
    const view = areaView(zone)
    areaViews.push(view)
    mainColumn.append(view.el)
    addToc(view.el.id, zone.spec.title || zone.key)
    tocLinks.set(view.el.id, tocList.lastElementChild)
  }
  mainColumn.append(areasAnchor)
  const tocAnchor = h('li', { hidden: true })
  tocList.append(tocAnchor)
  if (commentsZone) {
    const messages = new Messages(commentsZone, ctx, { planId: data.planId, csrf: data.csrf, unread: data.unreadMessages })
    mainColumn.append(messages.el)
    addToc('messages', t('messages.heading'))
  }
  for (const [id, key] of [['plan-start-consent', 'planConsent.heading'], ['plan-areas', 'areas.heading'], ['plan-members', 'members.heading'], ['plan-meetings', 'meetings.heading'], ['plan-published', 'published.heading'], ['plan-consent', 'consent.heading']]) {
    const el = document.getElementById(id)
    if (el) { mainColumn.append(el); addToc(id, t(key)) }
  }
  if (content) {
    const zctx = zctxOf(content)
    mainColumn.append(otherPlansSection(ctx, zctx), collaborationSection(ctx, zctx))
    addToc('sec-otherPlans', t('otherPlans.heading'))
    addToc('sec-collaboration', t('collaboration.heading'))
  }
  if (zones.length === 0) mainColumn.append(h('p', { class: 'note' }, t('plan.noZones')))

  const bar = h('div', { class: 'plan-bar' }, status.el, undo.el)
  const side = h('aside', { class: 'plan-side', aria: { label: t('side.label') } }, presence.el, toc)
  root.append(bar, h('div', { class: 'plan-layout' }, mainColumn, side), removals.el, ctx.history.el)
  root.dataset.ready = 'true'
  // Life areas added, renamed, moved or retired by the koordinator (server/plans/start_pages.py):
  // /events says so (ids only) and the page asks for the areas it may open now.
  const announce = h('p', { class: 'sr-only', aria: { live: 'polite' } })
  root.append(announce)
  const refreshAreas = async () => {
    let body
    try {
      const response = await fetch(`/plans/${encodeURIComponent(data.planId)}/areas`, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      if (!response.ok) return
      body = await response.json()
    } catch { return }
    const specs = Array.isArray(body.areas) ? body.areas : []
    const wanted = new Set(specs.map((s) => s.room))
    for (const view of [...areaViews]) {
      if (!wanted.has(view.zone.room)) {
        view.el.remove()
        tocLinks.get(view.el.id)?.remove()
        tocLinks.delete(view.el.id)
        areaViews.splice(areaViews.indexOf(view), 1)
        zones.splice(zones.indexOf(view.zone), 1)
        view.zone.destroy()
      }
    }
    const ordered = []
    for (const spec of specs) {
      let view = areaViews.find((v) => v.zone.room === spec.room)
      if (!view) {
        const zone = new Zone(spec, { wsBase: wsBase(), userId: me.id, ownDevice: Boolean(data.ownDevice), visit: data.visit, onChange })
        zone.origin = new LocalOrigin(spec.room)
        zone.provider.awareness.setLocalStateField('user', user)
        zones.push(zone)
        docs[zone.room] = zone.doc
        providers[zone.room] = zone.provider
        view = areaView(zone)
        areaViews.push(view)
        tocLinks.set(view.el.id, h('li', {}, h('a', { href: `#${view.el.id}` }, spec.title)))
        announce.textContent = t('areas.added', { title: spec.title })
      }
      view.zone.spec.title = spec.title
      const heading = view.el.querySelector('.section-head h2')
      if (heading && heading.textContent !== spec.title) heading.textContent = spec.title
      const link = tocLinks.get(view.el.id)
      if (link && link.textContent !== spec.title) link.firstChild.textContent = spec.title
      ordered.push(view)
    }
    // Put sections and table-of-contents links in the server's order; nodes already in
    // place stay untouched (moving one would take the caret out of a field being edited).
    const inDom = [...mainColumn.children].filter((el) => ordered.some((v) => v.el === el))
    if (inDom.length !== ordered.length || inDom.some((el, i) => el !== ordered[i].el)) {
      for (const view of ordered) mainColumn.insertBefore(view.el, areasAnchor)
      for (const view of ordered) tocList.insertBefore(tocLinks.get(view.el.id), tocAnchor)
    }
    areaViews.splice(0, areaViews.length, ...ordered)
    root.dataset.areas = specs.map((s) => s.key).join(' ')
    status.update()
    overview.schedule()
  }
  window.addEventListener('samplan:areas_changed', (event) => {
    if (event.detail && event.detail.plan === data.planId) refreshAreas()
  })
  overview.render()
  status.update()
}

/** "M5" for a new main goal (after the highest M-number in any area I can see); "3.2" under "M3". */
function nextGoalLabel (parentLabel, zone, areaViews) {
  const all = areaViews.flatMap((v) => v.labels())
  if (!parentLabel) {
    const max = Math.max(0, ...all.map((l) => /^M(\d+)$/.exec(l)).filter(Boolean).map((m) => Number(m[1])))
    return `M${max + 1}`
  }
  const prefix = parentLabel.replace(/^M/, '')
  const view = areaViews.find((v) => v.zone === zone)
  const siblings = (view ? view.labels() : all).filter((l) => l.startsWith(prefix + '.'))
    .map((l) => Number(l.slice(prefix.length + 1))).filter((n) => Number.isInteger(n))
  return `${prefix}.${Math.max(0, ...siblings) + 1}`
}
