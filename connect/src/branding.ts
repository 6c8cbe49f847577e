/**
 * The organization's colours, applied so that text stays readable: text on
 * the accent colour is black or white, whichever contrasts more, and the
 * accent is used for links and focus rings only when it reaches 4.5:1
 * against the background (WCAG AA); otherwise the page's defaults stay.
 */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((m, n) => n - m) as [number, number];
  return (x + 0.05) / (y + 0.05);
}

const HEX = /^#[0-9a-f]{6}$/i;

export function applyBranding(b: { primaryColor: string | null; backgroundColor: string | null }): void {
  const root = document.documentElement.style;
  const bg = b.backgroundColor && HEX.test(b.backgroundColor) ? b.backgroundColor : '#f6f7f9';
  if (bg !== '#f6f7f9') {
    root.setProperty('--bg', bg);
    root.setProperty('--text-on-bg', contrast(bg, '#111111') >= contrast(bg, '#ffffff') ? '#111111' : '#ffffff');
  }
  if (b.primaryColor && HEX.test(b.primaryColor)) {
    root.setProperty('--brand', b.primaryColor);
    root.setProperty('--brand-text', contrast(b.primaryColor, '#111111') >= contrast(b.primaryColor, '#ffffff') ? '#111111' : '#ffffff');
    if (contrast(b.primaryColor, '#ffffff') >= 4.5) root.setProperty('--focus', b.primaryColor);
  }
}
