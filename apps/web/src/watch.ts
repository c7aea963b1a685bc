// Lists that stay current: list once, then follow the API server's watch from that
// resourceVersion (through the gateway, no polling); a 410 Gone or a dropped stream relists.
import { useEffect, useState } from 'react';
import { api, ApiError, streamLines, type KubeList, type KubeObject } from './api';

export interface WatchedList {
  items: KubeObject[];
  error: unknown;
  loading: boolean;
  /** The watch stream is open (the list is live). */
  live: boolean;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number };
}

export function useWatchedList(path: string | null): WatchedList {
  const [state, setState] = useState<WatchedList>({ items: [], error: null, loading: true, live: false });
  useEffect(() => {
    if (!path) return;
    const abort = new AbortController();
    setState({ items: [], error: null, loading: true, live: false });
    const sep = path.includes('?') ? '&' : '?';
    const run = async (): Promise<void> => {
      let backoff = 500;
      while (!abort.signal.aborted) {
        let byUid = new Map<string, KubeObject>();
        let resourceVersion: string | undefined;
        try {
          const list = await api<KubeList>(path, { signal: abort.signal });
          byUid = new Map(list.items.map((o) => [o.metadata.uid ?? o.metadata.name, o]));
          resourceVersion = list.metadata.resourceVersion;
          setState({ items: sorted(byUid), error: null, loading: false, live: true });
          backoff = 500;
          let gone = false;
          await streamLines(
            `${path}${sep}watch=1&allowWatchBookmarks=true${resourceVersion ? `&resourceVersion=${resourceVersion}` : ''}`,
            (line) => {
              if (!line.trim()) return;
              const event = JSON.parse(line) as WatchEvent;
              if (event.type === 'ERROR') {
                gone = true;
                return;
              }
              if (event.type === 'BOOKMARK') return;
              const key = event.object.metadata.uid ?? event.object.metadata.name;
              if (event.type === 'DELETED') byUid.delete(key);
              else byUid.set(key, event.object);
              setState({ items: sorted(byUid), error: null, loading: false, live: true });
            },
            abort.signal,
          );
          if (!gone) setState((s) => ({ ...s, live: false }));
        } catch (error) {
          if (abort.signal.aborted) return;
          setState((s) => ({ ...s, error, loading: false, live: false }));
          // Forbidden, gone or signed out: retrying cannot help (and would fill the audit trail).
          if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return;
          backoff = Math.min(backoff * 2, 30_000);
        }
        await new Promise((r) => setTimeout(r, backoff));
      }
    };
    void run();
    return () => abort.abort();
  }, [path]);
  return state;
}

function sorted(byUid: Map<string, KubeObject>): KubeObject[] {
  return [...byUid.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}
