"""The ``plugin-service`` sub-commands (see ``plugin_service.cli``): the top layer, free to use every other part."""
