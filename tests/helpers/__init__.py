"""What the tests share, one module per concern. Fixtures are defined here and wired by the
conftest.py of each tier that uses them (tests/conftest.py for those several tiers share).

    paths       the repo, the example catalog, the installed console scripts
    catalogs    catalogs in tmp dirs: copy the example, write one, edit catalog.yaml, read results
    cli         the `assetpipe` CLI in a subprocess or in this process; catalog problems it prints
    builds      the example built once per session (draft, or through the OpenAI emulator)
    vendors     loopback vendors for CLI builds (the OpenAI emulator that draws a new take per call)
    paid        small catalogs that pay a vendor emulator; builds started in the background to
                signal or kill; what the vendor was asked
    providers   provider classes wired to an emulator, requests, running them to a result or error
    images      real image bytes: flat pictures, posters with text
    purity      the unit tier's rule: no subprocess, no network socket, no Dagster
    services    real PostgreSQL, redis-server and S3 (moto) servers on free loopback ports
    webserver   a real dagster-webserver and its GraphQL API
    browser     Debian's headless Chromium through Playwright
"""
