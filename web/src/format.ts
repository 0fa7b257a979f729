// Numbers as people read them. Exact counts keep every digit (grouped), rates and sizes are scaled.

const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function exact(n: number): string {
  return grouped.format(n);
}

function scaled(n: number, base: number, units: readonly string[]): string {
  let value = Math.abs(n);
  let unit = 0;
  while (value >= base && unit < units.length - 1) {
    value /= base;
    unit++;
  }
  const digits = value >= 100 || unit === 0 ? 0 : value >= 10 ? 1 : 2;
  return `${n < 0 ? "-" : ""}${value.toFixed(digits)} ${units[unit]}`;
}

export function bytes(n: number): string {
  return scaled(n, 1000, ["B", "kB", "MB", "GB", "TB", "PB"]);
}

export function byteRate(perSecond: number): string {
  return `${bytes(perSecond)}/s`;
}

export function count(n: number): string {
  return scaled(n, 1000, ["", "k", "M", "G", "T"]).trim();
}

export function countRate(perSecond: number): string {
  return `${count(perSecond)}/s`;
}

// Nanoseconds spent per second of wall time: how many CPUs' worth.
export function cores(nsPerSecond: number): string {
  const n = nsPerSecond / 1e9;
  if (n === 0) return "0";
  if (n < 1e-4) return "<0.0001";
  return n >= 10 ? n.toFixed(1) : n >= 0.1 ? n.toFixed(2) : n.toPrecision(2);
}

export function seconds(s: number): string {
  if (!Number.isFinite(s)) return "-";
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function micros(us: number): string {
  return us > 0 ? seconds(us / 1e6) : "-";
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

// Local wall-clock time; the date too when it is not today.
export function clock(unixSeconds: number): string {
  const t = new Date(unixSeconds * 1000);
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  const today = new Date();
  if (t.toDateString() === today.toDateString()) return time;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time}`;
}

export function protocol(number: number): string {
  return number === 6 ? "tcp" : number === 17 ? "udp" : String(number);
}
