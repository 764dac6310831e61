// GraphiQL's tabs come from framer-motion's Reorder, for dragging a tab to a new place:
// 125 KiB for that one gesture. Here they are plain list elements (tabs still open, switch
// and close; they just cannot be dragged).
import { forwardRef } from 'react';

const Group = forwardRef(({ as: As = 'ul', axis, values, onReorder, layoutScroll, ...props }, ref) => (
  <As ref={ref} {...props} />
));
const Item = forwardRef(({ as: As = 'li', value, dragListener, dragControls, layout, ...props }, ref) => (
  <As ref={ref} {...props} />
));

export const Reorder = { Group, Item };
