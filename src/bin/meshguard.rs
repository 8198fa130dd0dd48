fn main() {
    let y = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    let docs: Result<Vec<serde_json::Value>, _> = serde_saphyr::from_multiple(&y);
    match docs {
        Ok(d) => println!("{}", serde_json::to_string_pretty(&d).unwrap()),
        Err(e) => println!("ERR {e}"),
    }
    let v: serde_json::Value = serde_json::json!({"a": {"5432": {"mode": "STRICT"}}, "p": ["443"], "t": "true", "n": null, "e": {}, "l": [], "s": "a: b", "m": "line1\nline2", "star": "*", "q": "'x'"});
    println!("{}", serde_saphyr::to_string(&v).unwrap());
}
