export interface PageRequest {
  page: number;
  per_page: number;
}

export interface Page<T> {
  items: T[];
  pagination: { page: number; per_page: number; total_items: number; total_pages: number };
}

export function offsetOf(request: PageRequest): number {
  return (request.page - 1) * request.per_page;
}

export function toPage<T>(items: T[], total: number, request: PageRequest): Page<T> {
  return {
    items,
    pagination: {
      page: request.page,
      per_page: request.per_page,
      total_items: total,
      total_pages: Math.ceil(total / request.per_page),
    },
  };
}
