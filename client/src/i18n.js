// UI strings: the same flat JSON files the server's templates use (client/i18n/*.json).
import nb from '../i18n/nb.json'
import en from '../i18n/en.json'

const catalogs = { nb, en }
export const lang = document.documentElement.lang === 'en' ? 'en' : 'nb'
const catalog = catalogs[lang]

/** t('key', {name: 'Åse'}) replaces {name}; a missing key falls back to bokmål, then the key. */
export function t (key, vars) {
  let text = catalog[key] ?? nb[key] ?? key
  if (vars) text = text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole))
  return text
}

/** Like t, but tolerates an unknown enumeration value (shown as it is). */
export function tEnum (prefix, value) {
  if (value === null || value === undefined || value === '') return ''
  const key = `${prefix}.${value}`
  return catalog[key] ?? nb[key] ?? String(value)
}
