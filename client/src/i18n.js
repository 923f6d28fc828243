// UI strings: the same flat JSON files the server's templates use (client/i18n/*.json).
import nb from '../i18n/nb.json'
import nn from '../i18n/nn.json'
import en from '../i18n/en.json'

const catalogs = { nb, nn, en }
/** The page's language, as the server rendered it (<html lang>); bokmål if it names none we have. */
const pageLang = document.documentElement.lang
export const lang = Object.prototype.hasOwnProperty.call(catalogs, pageLang) ? pageLang : 'nb'
const catalog = catalogs[lang]

/**
 * t('key', {name: 'Åse'}) replaces {name}; a key missing from nynorsk or English falls back
 * to bokmål (a reader of either understands it), then to the key itself.
 */
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
