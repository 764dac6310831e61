// graphiql-explorer is CommonJS: `require('graphql')` would keep all of graphql-js.
// It gets only what it uses.
export {
  GraphQLObjectType, getNamedType, isEnumType, isInputObjectType, isInterfaceType, isLeafType,
  isNonNullType, isObjectType, isRequiredInputField, isScalarType, isUnionType, isWrappingType,
  parse, parseType, print, visit,
} from 'graphql';
