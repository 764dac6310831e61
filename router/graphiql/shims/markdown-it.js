// GraphiQL renders descriptions with markdown-it (134 KiB with its HTML entity tables).
// Kindred's descriptions use paragraphs, `code`, **bold**, *emphasis* and links; this
// renders those, and escapes everything else.
const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escape = (text) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function inline(text) {
  const parts = text.split(/(`[^`]+`)/);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${escape(part.slice(1, -1))}</code>`;
      return escape(part)
        .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2">$1</a>')
        .replace(/(^|[\s(])(https?:\/\/[^\s<)]+)/g, '$1<a href="$2">$2</a>')
        .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
        .replace(/(^|[^*\w])\*([^*\s][^*]*)\*/g, '$1<em>$2</em>');
    })
    .join('');
}

export default class MarkdownIt {
  render(text) {
    return String(text)
      .split(/\n\s*\n/)
      .filter((block) => block.trim())
      .map((block) => `<p>${inline(block.trim())}</p>\n`)
      .join('');
  }

  renderInline(text) {
    return inline(String(text));
  }
}
