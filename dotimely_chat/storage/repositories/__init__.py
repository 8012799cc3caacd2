"""Repositories: all of the package's SQL but the stores beside them, one module per aggregate.

They flush but never commit; the use case owns the transaction. Anything that belongs to a business takes
`business_id` first, and every query on it filters by it, so a caller holding one business's id cannot
reach another's rows. Import each repository from its module (or from `dotimely_chat.storage`).
"""
