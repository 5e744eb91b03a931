/** Every event type, by resource: the change feed's and webhooks' vocabulary (docs/events.md). */
export const EVENT_TYPES = [
  'ou.created',
  'ou.updated',
  'ou.moved',
  'ou.deleted',
  'user.created',
  'user.updated',
  'user.moved',
  'user.deleted',
  'tenant.created',
  'tenant.updated',
  'tenant.deleted',
  'client.created',
  'client.deleted',
  'role_assignment.created',
  'role_assignment.deleted',
  'webhook.created',
  'webhook.updated',
  'webhook.deleted',
  'webhook.secret_rotated',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
export type ResourceType = 'ou' | 'user' | 'tenant' | 'client' | 'role_assignment' | 'webhook';
