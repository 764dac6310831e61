// The checks every GraphQL document passes before the federation engine sees it: parse
// (with a token limit), the spec's validation rules against the API schema (fragment
// cycles among them: one aborts grafbase's whole process), and Kindred's limits. Each
// document text is checked once; later requests with the same text cost a map lookup.
import {
  GraphQLError,
  Kind,
  getIntrospectionQuery,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
} from 'graphql';
import { LIMITS } from './limits.mjs';

const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);

// One verdict per document text: {document} or {errors, code}.
class Verdicts {
  constructor(size) {
    this.size = size;
    this.map = new Map();
  }

  get(key) {
    const value = this.map.get(key);
    if (value !== undefined) {
      // Least recently used first: move this one to the back.
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key, value) {
    if (this.map.size >= this.size) this.map.delete(this.map.keys().next().value);
    this.map.set(key, value);
  }
}

function fieldsOf(selectionSet, fragments, visit) {
  // Every field reachable from a selection set, fragments inlined (documents reaching here
  // have no fragment cycles and no unknown fragments).
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) visit(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) fieldsOf(selection.selectionSet, fragments, visit);
    else fieldsOf(fragments.get(selection.name.value).selectionSet, fragments, visit);
  }
}

// Measures a selection set: field depth (split into plain and introspection nesting),
// aliases, and introspection root fields, with fragments memoised per name.
function measure(selectionSet, fragments, memo = new Map(), inIntrospection = false) {
  const figures = { depth: 0, introspectionDepth: 0, aliases: 0, introspectionFields: 0 };
  const add = (field) => {
    const introspection = inIntrospection || INTROSPECTION_ROOTS.has(field.name.value);
    if (field.alias) figures.aliases += 1;
    if (!inIntrospection && INTROSPECTION_ROOTS.has(field.name.value)) figures.introspectionFields += 1;
    const below = field.selectionSet
      ? measure(field.selectionSet, fragments, memo, introspection)
      : { depth: 0, introspectionDepth: 0, aliases: 0, introspectionFields: 0 };
    figures.aliases += below.aliases;
    figures.introspectionFields += below.introspectionFields;
    if (introspection) {
      figures.introspectionDepth = Math.max(figures.introspectionDepth, 1 + below.introspectionDepth);
    } else {
      figures.depth = Math.max(figures.depth, 1 + below.depth);
      figures.introspectionDepth = Math.max(figures.introspectionDepth, below.introspectionDepth);
    }
  };
  fieldsOf(selectionSet, fragments, add);
  return figures;
}

function fragmentsOf(document) {
  const fragments = new Map();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

// The introspection nesting of a document's first operation (used to calibrate).
function maxIntrospectionDepth(document) {
  const operation = getOperationAST(document);
  return measure(operation.selectionSet, fragmentsOf(document)).introspectionDepth;
}

const MAX_INTROSPECTION_DEPTH = maxIntrospectionDepth(
  parse(
    getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    }),
  ),
);

// A validation rule: no field, spread or inline fragment carries too many directives.
function DirectivesPerFieldRule(context) {
  const check = (node) => {
    const count = node.directives?.length ?? 0;
    if (count > LIMITS.maxDirectivesPerField) {
      context.reportError(
        new GraphQLError(
          `At most ${LIMITS.maxDirectivesPerField} directives may be put on one field; this one has ${count}.`,
          { nodes: [node] },
        ),
      );
    }
  };
  return { Field: check, FragmentSpread: check, InlineFragment: check };
}

const RULES = [...specifiedRules, DirectivesPerFieldRule];

function limitErrors(operation, fragments) {
  const figures = measure(operation.selectionSet, fragments);
  const errors = [];
  const over = (what, value, limit) =>
    errors.push(new GraphQLError(`${what} is ${value}; at most ${limit} is allowed.`, { nodes: [operation] }));
  if (figures.depth > LIMITS.maxDepth) over('The depth of this operation', figures.depth, LIMITS.maxDepth);
  if (figures.aliases > LIMITS.maxAliases) over('The number of aliases', figures.aliases, LIMITS.maxAliases);
  if (figures.introspectionFields > LIMITS.maxIntrospectionFields) {
    over('The number of __schema and __type fields', figures.introspectionFields, LIMITS.maxIntrospectionFields);
  }
  if (figures.introspectionDepth > MAX_INTROSPECTION_DEPTH) {
    over('The introspection depth', figures.introspectionDepth, MAX_INTROSPECTION_DEPTH);
  }
  return errors;
}

export class DocumentChecker {
  constructor(schema, { cacheSize = 1000 } = {}) {
    this.schema = schema;
    this.verdicts = new Verdicts(cacheSize);
  }

  // {document} if the text is a valid document within the limits, else {errors, code}.
  checkText(query) {
    let verdict = this.verdicts.get(query);
    if (verdict === undefined) {
      verdict = this.#judge(query);
      this.verdicts.set(query, verdict);
    }
    return verdict;
  }

  // The operation to run: {operation, document} or {errors, code}.
  check(query, operationName) {
    const verdict = this.checkText(query);
    if (verdict.errors) return verdict;
    const operation = getOperationAST(verdict.document, operationName ?? undefined);
    if (!operation) {
      const message = operationName
        ? `The document has no operation named "${operationName}".`
        : 'The document has several operations: say which one to run in `operationName`.';
      return { errors: [new GraphQLError(message)], code: 'OPERATION_RESOLUTION_FAILURE' };
    }
    return { operation, document: verdict.document };
  }

  #judge(query) {
    if (query.length > LIMITS.maxQueryBytes) {
      const message = `The query is ${query.length} characters long; at most ${LIMITS.maxQueryBytes} are allowed.`;
      return { errors: [new GraphQLError(message)], code: 'GRAPHQL_VALIDATION_FAILED' };
    }
    let document;
    try {
      document = parse(query, { maxTokens: LIMITS.maxTokens });
    } catch (error) {
      return { errors: [error], code: 'GRAPHQL_PARSE_FAILED' };
    }
    const errors = validate(this.schema, document, RULES, { maxErrors: LIMITS.maxValidationErrors });
    if (errors.length) return { errors, code: 'GRAPHQL_VALIDATION_FAILED' };
    const fragments = fragmentsOf(document);
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      const over = limitErrors(definition, fragments);
      if (over.length) return { errors: over, code: 'GRAPHQL_VALIDATION_FAILED' };
    }
    return { document };
  }
}
