// What every page shares: the loading / empty / error / forbidden states (a forbidden state always
// names the missing permission and links to "Why can't I?"), and tables that scroll sideways in
// their own box instead of widening the page.
import { useEffect, useRef, useState, type HTMLAttributes, type ReactNode } from 'react';
import { ApiError, canIUrl, describeAccess, type AccessQuestion } from './api';
import { Link } from './router';

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Forbidden({ question, reason }: { question: AccessQuestion; reason?: string }) {
  return (
    <div className="notice forbidden" role="alert">
      <p>
        <strong>Not allowed:</strong> you lack <code>{describeAccess(question)}</code>.
      </p>
      {reason && <p className="small">The API server said: {reason}</p>}
      <p>
        <Link href={canIUrl({ ...question, group: question.group ?? '' })}>Why can't I?</Link> — or ask a
        cluster admin for a RoleBinding that grants it.
      </p>
    </div>
  );
}

/** An error from the gateway or the API server, with what to do next. */
export function ErrorNotice({ error, fallback }: { error: unknown; fallback?: AccessQuestion }) {
  if (error instanceof ApiError && error.status === 403) {
    const refused = error.refused;
    if (refused) return <Forbidden question={refused} reason={error.message} />;
    if (fallback) return <Forbidden question={fallback} reason={error.message} />;
  }
  const message = error instanceof Error ? error.message : String(error);
  const hint =
    error instanceof ApiError
      ? error.status === 401
        ? 'Your session ended: sign in again.'
        : error.status === 404
          ? 'It may have been deleted, or the name is wrong.'
          : error.status >= 500
            ? 'The gateway or the cluster is having trouble; try again in a moment.'
            : ''
      : 'Check the network connection to the gateway, then reload.';
  return (
    <div className="notice error" role="alert">
      <p>
        <strong>Error:</strong> {message}
      </p>
      {hint && <p>{hint}</p>}
    </div>
  );
}

/** Copies text to the clipboard and says so (for people and for screen readers). */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      timer.current = window.setTimeout(() => setCopied(false), 2000);
    } catch {
      setCopied(false);
    }
  };
  return (
    <button type="button" className="secondary" onClick={() => void copy()}>
      {copied ? 'Copied' : label}
      <span className="visually-hidden" aria-live="polite">
        {copied ? ' — copied to the clipboard' : ''}
      </span>
    </button>
  );
}

/** Sets the document title and moves focus to the page heading when the page changes. */
export function PageTitle({ children, title }: { children: ReactNode; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · kgw`;
    ref.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

/** One term and its value in a <dl> (grouped in a div, as HTML allows, so every row is alike). */
export function Row({ term, children, testId }: { term: string; children: ReactNode; testId?: string }) {
  return (
    <div className="dlrow">
      <dt>{term}</dt>
      <dd data-testid={testId}>{children}</dd>
    </div>
  );
}

/**
 * A list's states in one place: the error (a refused list names `denied`, the permission it
 * needed), loading, the empty text, or the list itself. Items already shown stay on screen when
 * a later refresh fails (a watch that reconnects).
 */
export function Listing<T>(props: {
  what: string;
  items: T[] | null;
  /** Default: no items yet. */
  loading?: boolean;
  error: unknown;
  denied?: AccessQuestion;
  empty: ReactNode;
  /** The list; without it, only the states (a page that shows one object its own way). */
  children?: (items: T[]) => ReactNode;
}) {
  const { what, items, error, denied, empty, children } = props;
  const loading = props.loading ?? items === null;
  return (
    <>
      {error != null && <ErrorNotice error={error} fallback={denied} />}
      {loading && error == null && <Loading what={what} />}
      {!loading && error == null && items?.length === 0 && <Empty>{empty}</Empty>}
      {items && items.length > 0 && children?.(items)}
    </>
  );
}

export interface Column<T> {
  /** Column heading; `hidden` keeps it for screen readers only (an actions column). */
  header: string;
  hidden?: boolean;
  cell: (row: T) => ReactNode;
}

type RowAttributes = HTMLAttributes<HTMLTableRowElement> & { [data: `data-${string}`]: string | undefined };

/**
 * A table in a box that scrolls sideways on a narrow screen (the page itself never does). The
 * box is a labelled, focusable region so a keyboard can scroll it too.
 */
export function DataTable<T>(props: {
  label: string;
  rows: T[];
  columns: Array<Column<T>>;
  rowKey: (row: T, index: number) => string;
  rowAttributes?: (row: T) => RowAttributes;
  testId?: string;
  className?: string;
}) {
  const { label, rows, columns, rowKey, rowAttributes, testId, className } = props;
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table data-testid={testId} className={className}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c.header}>
                {c.hidden ? <span className="visually-hidden">{c.header}</span> : c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={rowKey(row, i)} {...rowAttributes?.(row)}>
              {columns.map((c) => (
                <td key={c.header}>{c.cell(row)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
