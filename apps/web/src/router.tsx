// A small History-API router: every page has a stable URL under /kgw/ui/ (deep links work
// because the gateway answers any page path with the app). No hash routes.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';
import { UI_BASE } from './api';

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
}

window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** The current page path below /kgw/ui/ (no leading slash) and its query. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, bump] = useState(0);
  useEffect(() => {
    const l = (): void => bump((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  const full = location.pathname.startsWith(UI_BASE) ? location.pathname.slice(UI_BASE.length) : '';
  return { path: full.replace(/\/+$/, ''), query: new URLSearchParams(location.search) };
}

export function uiPath(path: string): string {
  return UI_BASE + path.replace(/^\/+/, '');
}

/** An <a> that navigates within the app (modifier clicks and new tabs behave as links do). */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const { href, onClick, ...rest } = props;
  const handle = (e: MouseEvent<HTMLAnchorElement>): void => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}
