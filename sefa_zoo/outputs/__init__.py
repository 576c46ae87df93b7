"""What an edit run writes: labelled PNG grids, the self-contained HTML report, animations.

Everything here takes a RenderedEdits (images already rendered by sefa_zoo.editing) and
writes files atomically; nothing here runs a generator.
"""
