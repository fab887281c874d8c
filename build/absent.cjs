// Stand-in for optional native add-ons (bufferutil, utf-8-validate) that the bundled WebSocket
// library probes for with require(); throwing makes it use its pure-JavaScript code paths.
throw Object.assign(new Error('optional module not bundled'), { code: 'MODULE_NOT_FOUND' });
