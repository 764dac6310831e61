"""Every type, field, argument, input field and enum value of the composed graph has a
description: GraphiQL's docs panel and explorer are the API's reference, so nothing in
them may be left unexplained. Federation's own machinery is not the API and is skipped."""

from __future__ import annotations

from pathlib import Path

import graphql

REPO_ROOT = Path(__file__).resolve().parents[2]

# What composition adds (join__*, link__*, the scalars of linked specs such as
# requiresScopes__Scope) and what a subgraph serves only to the router.
FEDERATION_TYPES = {"_Service", "_Any", "_Entity", "FieldSet", "federation__FieldSet"}
FEDERATION_FIELDS = {"_service", "_entities"}


def is_federation_machinery(name: str) -> bool:
    linked = ("join__", "link__", "federation__", "requiresScopes__")
    return name.startswith(linked) or name in FEDERATION_TYPES


def undescribed(document: graphql.DocumentNode) -> list[str]:
    """The coordinates (Type, Type.field, Type.field(arg:), Enum.VALUE) that lack one."""
    missing: list[str] = []

    def check(coordinate: str, node: graphql.Node) -> None:
        description = getattr(node, "description", None)
        if description is None or not description.value.strip():
            missing.append(coordinate)

    for definition in document.definitions:
        if not isinstance(definition, graphql.TypeDefinitionNode):
            continue  # the schema definition, directive definitions
        name = definition.name.value
        if is_federation_machinery(name):
            continue
        check(name, definition)
        if isinstance(definition, graphql.EnumTypeDefinitionNode):
            for value in definition.values or ():
                check(f"{name}.{value.name.value}", value)
        if isinstance(definition, graphql.InputObjectTypeDefinitionNode):
            for input_field in definition.fields or ():
                check(f"{name}.{input_field.name.value}", input_field)
        if isinstance(
            definition, (graphql.ObjectTypeDefinitionNode, graphql.InterfaceTypeDefinitionNode)
        ):
            for field in definition.fields or ():
                if field.name.value in FEDERATION_FIELDS:
                    continue
                check(f"{name}.{field.name.value}", field)
                for argument in field.arguments or ():
                    check(f"{name}.{field.name.value}({argument.name.value}:)", argument)
    return missing


def test_the_walk_names_what_lacks_a_description() -> None:
    document = graphql.parse(
        '''
        """A thing with a name."""
        type Thing { name(style: Style): String  """Its size in metres.""" size: Int }
        enum Style { """As written.""" PLAIN LOUD }
        input Filter { """Only these names.""" names: [String!] near: Int }
        union Either = Thing
        scalar join__FieldSet
        type Query { _service: Int }
        '''
    )
    assert undescribed(document) == [
        "Thing.name",
        "Thing.name(style:)",
        "Style",
        "Style.LOUD",
        "Filter",
        "Filter.near",
        "Either",
        "Query",
    ]


def test_every_element_of_the_supergraph_has_a_description() -> None:
    document = graphql.parse((REPO_ROOT / "supergraph.graphql").read_text())
    missing = undescribed(document)
    assert not missing, (
        f"{len(missing)} elements of supergraph.graphql have no description (add one in the "
        f"subgraph's code, then `make compose`): {', '.join(missing)}"
    )
