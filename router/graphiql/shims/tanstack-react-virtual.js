// Headless UI imports a virtual list for its `virtual` comboboxes, which GraphiQL never
// asks for.
export function useVirtualizer() {
  throw new Error('Virtual lists are not bundled in this GraphiQL build.');
}
