// GraphiQL for developers: the editor, the docs panel and the explorer, talking to
// /graphql on this origin (queries and mutations over HTTP, subscriptions over
// graphql-transport-ws on the same path). Bundled by build.mjs; nothing from a CDN.
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';

const endpoint = new URL('/graphql', window.location.href);
const fetcher = createGraphiQLFetcher({
  url: endpoint.href,
  // The headers editor's values (say `Authorization`) become connection_init's payload.
  subscriptionUrl: endpoint.href.replace(/^http/, 'ws'),
  enableIncrementalDelivery: false,
});

const DEFAULT_QUERY = `# Welcome to Kindred's GraphiQL.
#
# Sign up (register) or log in with a mutation, then put the access token in the
# Headers tab below: {"Authorization": "Bearer <accessToken>"} (subscriptions send it
# in connection_init). The book icon opens the docs, where every type and field is
# described; the folder icon opens the explorer, to build a query by ticking fields.

query QueueLength {
  queueLength
}
`;

const plugins = [explorerPlugin()];

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL
    fetcher={fetcher}
    plugins={plugins}
    defaultQuery={DEFAULT_QUERY}
    defaultEditorToolsVisibility="headers"
    isHeadersEditorEnabled
    shouldPersistHeaders
  />,
);
