"""
Bounds on what one GraphQL query may ask of the plugin's types.

A module lists its scripts and a script names its module, so `scripts { module { scripts { ... } } }` multiplies
the rows at every level, and aliases repeat any shape as often as the client writes it. NetBox's
GRAPHQL_MAX_QUERY_DEPTH is off by default and GRAPHQL_MAX_ALIASES can be raised, so the plugin bounds its own
query fields. The check reads the query's syntax and runs before the field's resolver: the strawberry-django
optimizer prefetches every level of a query when the top-level queryset is built, so a check made while the nested
fields resolve would come after the rows were loaded.
"""
from graphql import FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, get_named_type
from strawberry.extensions import FieldExtension

__all__ = (
    'MAX_DEPTH',
    'MAX_OBJECT_FIELDS',
    'QueryBounds',
)

# Objects nested below a query field: custom_script_run_list { script { module { tags } } } is 3 deep.
MAX_DEPTH = 3
# Query fields of the plugin and objects below them in one request, each alias counted: each one costs a query.
MAX_OBJECT_FIELDS = 50

PLUGIN_TYPES = frozenset({'CustomScriptModuleType', 'CustomScriptType', 'CustomScriptRunType'})

_CACHE_ATTR = '_custom_scripts_graphql_bounds'


def _collect(selection_set, fragments, fields, visited):
    """The fields of a selection set by response key, through fragments, merged as execution merges them."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            fields.setdefault((selection.alias or selection.name).value, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, fragments, fields, visited)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in visited:
            # Once per selection set, as graphql-core does: a fragment spread twice is not walked twice.
            visited.add(selection.name.value)
            if fragment := fragments.get(selection.name.value):
                _collect(fragment.selection_set, fragments, fields, visited)
    return fields


def _field_type(parent_type, name):
    """The named type of field `name` of `parent_type`, or None where the schema does not say (e.g. a union)."""
    definition = getattr(parent_type, 'fields', {}).get(name)
    return get_named_type(definition.type) if definition is not None else None


class _Walk:

    def __init__(self, fragments):
        self.fragments = fragments
        self.object_fields = 0

    def count(self):
        self.object_fields += 1
        if self.object_fields > MAX_OBJECT_FIELDS:
            raise GraphQLError(
                f'Query too wide: it asks for more than {MAX_OBJECT_FIELDS} custom-scripts objects (query fields '
                f'and the objects below them, each alias counted).'
            )

    def check(self, nodes, node_type, path, plugin_types):
        """Check the objects selected below `nodes` (the field nodes of one response key, returning `node_type`)."""
        fields, visited = {}, set()
        for node in nodes:
            if node.selection_set is not None:
                _collect(node.selection_set, self.fragments, fields, visited)
        for key, sub_nodes in fields.items():
            if all(sub_node.selection_set is None for sub_node in sub_nodes):
                continue  # a scalar: loads nothing more
            sub_path = (*path, key)
            if len(sub_path) - 1 > MAX_DEPTH:
                raise GraphQLError(
                    f'Query too deep: {".".join(sub_path)} nests {len(sub_path) - 1} objects; custom-scripts '
                    f'queries allow at most {MAX_DEPTH} below the query field.'
                )
            sub_type = _field_type(node_type, sub_nodes[0].name.value)
            inner_types = plugin_types
            if sub_type is not None and sub_type.name in PLUGIN_TYPES:
                if sub_type.name in plugin_types:
                    # module { scripts { module } } gives back objects the query already has, multiplied.
                    raise GraphQLError(
                        f'Query loops back: {".".join(sub_path)} returns a {sub_type.name} again; ask for it '
                        f'once, at the outer level.'
                    )
                inner_types = plugin_types | {sub_type.name}
            self.count()
            self.check(sub_nodes, sub_type, sub_path, inner_types)


def check_operation(info):
    """
    Raise a GraphQLError if the operation's custom-scripts query fields, together, go beyond the bounds. Every
    plugin query field of the operation is checked, so that aliased copies count against one budget.
    """
    raw = info._raw_info
    walk = _Walk(raw.fragments)
    roots = _collect(raw.operation.selection_set, raw.fragments, {}, set())
    for key, nodes in roots.items():
        root_type = _field_type(raw.parent_type, nodes[0].name.value)
        if root_type is not None and root_type.name in PLUGIN_TYPES:
            walk.count()
            walk.check(nodes, root_type, (key,), frozenset({root_type.name}))


class QueryBounds(FieldExtension):
    """Refuse a plugin query field, before its resolver runs, when its operation goes beyond the bounds."""

    def _check(self, info):
        # The operation is checked once per request, however many plugin query fields (aliases) it has.
        request = info.context.request
        cache = getattr(request, _CACHE_ATTR, None)
        if cache is None or cache[0] is not info.operation:
            try:
                check_operation(info)
                error = None
            except GraphQLError as exc:
                error = exc.message
            cache = (info.operation, error)
            setattr(request, _CACHE_ATTR, cache)
        if cache[1] is not None:
            raise GraphQLError(cache[1])

    def resolve(self, next_, source, info, **kwargs):
        self._check(info)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_, source, info, **kwargs):
        self._check(info)
        return await next_(source, info, **kwargs)
