// The plan's offline copy in IndexedDB (y-indexeddb), kept only on a device the user marked as
// their own. Database names: "samplan:<user id>:<room>". Log-out deletes every Samplan database
// on this device before the form is submitted, so a shared computer keeps no plan data.
export const DB_PREFIX = 'samplan:'
const KNOWN_KEY = 'samplan.offline-dbs'

export const dbName = (userId, room) => `${DB_PREFIX}${userId}:${room}`

/** Remember a database name, for browsers without indexedDB.databases(). */
export function rememberDb (name) {
  try {
    const known = new Set(JSON.parse(localStorage.getItem(KNOWN_KEY) || '[]'))
    known.add(name)
    localStorage.setItem(KNOWN_KEY, JSON.stringify([...known]))
  } catch { /* storage disabled: databases() is the fallback */ }
}

const closers = new Set()
/** Called before deletion: the plan page closes its open IndexedDB connections here. */
export const onBeforeClear = (fn) => closers.add(fn)

function deleteDb (name) {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name)
    request.onsuccess = request.onerror = () => resolve()
    // "blocked": another tab still has it open; it is deleted once that tab lets go.
    request.onblocked = () => resolve()
  })
}

export async function clearOfflineData () {
  if (typeof indexedDB === 'undefined') return
  for (const fn of closers) {
    try { await fn() } catch { /* keep going: deleting matters more */ }
  }
  const names = new Set()
  try { for (const n of JSON.parse(localStorage.getItem(KNOWN_KEY) || '[]')) names.add(n) } catch { }
  if (indexedDB.databases) {
    try {
      for (const db of await indexedDB.databases()) if (db.name && db.name.startsWith(DB_PREFIX)) names.add(db.name)
    } catch { }
  }
  await Promise.all([...names].map(deleteDb))
  try { localStorage.removeItem(KNOWN_KEY) } catch { }
}

export const OWN_DEVICE_COOKIE = 'samplan_own_device'
const setOwnDevice = (on) => {
  const secure = location.protocol === 'https:' ? '; secure' : ''
  document.cookie = on
    ? `${OWN_DEVICE_COOKIE}=1; path=/; max-age=31536000; samesite=lax${secure}`
    : `${OWN_DEVICE_COOKIE}=; path=/; max-age=0; samesite=lax${secure}`
}

/** The log-in form's "this is my own device" box sets the cookie the plan page reads. */
export function setupLogin () {
  const box = document.querySelector('input[name="own_device"]')
  if (!box) return
  box.checked = document.cookie.split('; ').includes(`${OWN_DEVICE_COOKIE}=1`)
  box.form.addEventListener('submit', () => setOwnDevice(box.checked))
}

/** Every log-out form (class "logout-form") clears the offline copies, then submits. */
export function setupLogout () {
  for (const form of document.querySelectorAll('form.logout-form')) {
    form.addEventListener('submit', (event) => {
      if (form.dataset.cleared === 'true') return
      event.preventDefault()
      const button = form.querySelector('button')
      if (button) button.disabled = true
      const done = () => {
        if (form.dataset.cleared === 'true') return
        form.dataset.cleared = 'true'
        setOwnDevice(false) // the next person on this device starts without an offline copy
        form.submit()
      }
      // Never keep someone from logging out: give up on a stuck deletion after 3 s.
      const timer = setTimeout(done, 3000)
      clearOfflineData().finally(() => { clearTimeout(timer); done() })
    })
  }
}
