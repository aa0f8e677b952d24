from plugin_service.cli import main

main()
