// Numbers and dates as people read them.

export function formatCount(value: number | null | undefined): string {
  return value == null ? "—" : new Intl.NumberFormat().format(value);
}

export function formatRate(value: number | null | undefined): string {
  return value == null ? "—" : `${(value * 100).toFixed(1)}%`;
}

export function formatDateTime(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString() : "—";
}

export function formatDate(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleDateString() : "—";
}
