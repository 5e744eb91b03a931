import type { ComponentChildren } from 'preact';
import { useRef } from 'preact/hooks';

export interface Tab<K extends string> {
  key: K;
  label: string;
  content: ComponentChildren;
}

/**
 * The WAI-ARIA tabs pattern (https://www.w3.org/WAI/ARIA/apg/patterns/tabs/), activated
 * automatically: ←/→ (and Home/End) move to a tab and show it; Tab goes into its panel. Every
 * panel stays rendered (hidden when not chosen), so a form being typed or a page of users read
 * is still there when its tab comes back.
 */
export function Tabs<K extends string>({ tabs, chosen, onChoose, label, id }: { tabs: Tab<K>[]; chosen: K; onChoose(key: K): void; label: string; id: string }) {
  const list = useRef<HTMLDivElement>(null);
  const choose = (index: number) => {
    const tab = tabs[(index + tabs.length) % tabs.length];
    onChoose(tab.key);
    list.current?.querySelector<HTMLElement>(`#${id}-tab-${tab.key}`)?.focus();
  };
  const onKeyDown = (event: KeyboardEvent) => {
    // Alt+← is the browser's Back, Ctrl+Home and the like the page's: not the tabs'.
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const at = tabs.findIndex((tab) => tab.key === chosen);
    const moves: Record<string, number> = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    choose(moves[event.key]);
  };
  return (
    <>
      <div class="tabs" role="tablist" aria-label={label} ref={list} onKeyDown={onKeyDown}>
        {tabs.map((tab) => (
          <button
            type="button"
            role="tab"
            key={tab.key}
            id={`${id}-tab-${tab.key}`}
            aria-selected={tab.key === chosen ? 'true' : 'false'}
            aria-controls={`${id}-panel-${tab.key}`}
            tabIndex={tab.key === chosen ? 0 : -1}
            onClick={() => onChoose(tab.key)}
          >
            {tab.label}
          </button>
        ))}
      </div>
      {tabs.map((tab) => (
        <div role="tabpanel" key={tab.key} id={`${id}-panel-${tab.key}`} aria-labelledby={`${id}-tab-${tab.key}`} hidden={tab.key !== chosen} tabIndex={0} class="tab-panel">
          {tab.content}
        </div>
      ))}
    </>
  );
}
