/** Text forms of link-layer values, for reports and error messages (not the hot path). */
import { type EthernetHeader, vlanId } from './ethernet.ts';

/** aa:bb:cc:dd:ee:ff, lowercase. */
export function formatMac(mac: number): string {
  return mac
    .toString(16)
    .padStart(12, '0')
    .replace(/(..)(?!$)/g, '$1:');
}

/** Parses aa:bb:cc:dd:ee:ff (or with '-'); null when it is not six hex octets. */
export function parseMac(text: string): number | null {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) return null;
  return Number.parseInt(text.replace(/[:-]/g, ''), 16);
}

export function vlanIds(h: EthernetHeader): number[] {
  const ids: number[] = [];
  for (let i = 0; i < h.tagCount; i++) ids.push(vlanId(h.tagTci[i]!));
  return ids;
}
