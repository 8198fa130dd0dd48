//! A Proxy-Wasm HTTP filter that lets every request through untouched: the benchmark's
//! reference for what running any Rust wasm filter costs. Given a plugin configuration, it
//! also logs that configuration as one info line per request (at the end of the stream, as
//! meshguard writes its audit entry): what Envoy's logging of a line costs, on its own.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { line: None }) });
}}

struct Root {
    line: Option<Rc<String>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.line = self
            .get_plugin_configuration()
            .filter(|c| !c.is_empty())
            .map(|c| Rc::new(String::from_utf8_lossy(&c).into_owned()));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Noop {
            line: self.line.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Noop {
    line: Option<Rc<String>>,
}

impl Context for Noop {}

impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }

    fn on_log(&mut self) {
        if let Some(line) = &self.line {
            let _ = hostcalls::log(LogLevel::Info, line);
        }
    }
}
