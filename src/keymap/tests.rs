//! Keymap tests: defaults, overrides, conflicts, resolution per mode.
use super::*;

fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

fn one(name: &str, keys: &[&str]) -> BTreeMap<String, KeyList> {
    let list = KeyList::Many(keys.iter().map(|k| k.to_string()).collect());
    BTreeMap::from([(name.to_string(), list)])
}

#[test]
fn defaults_follow_product_keys() {
    let km = Keymap::from_config(&BTreeMap::new()).unwrap();
    let r = |mode, code, mods| km.resolve(mode, &key(code, mods));
    let n = KeyModifiers::NONE;
    assert_eq!(
        r(Mode::Normal, KeyCode::Char('j'), n),
        Some(Resolved::Action(Action::Down))
    );
    assert_eq!(
        r(Mode::Normal, KeyCode::Char('l'), n),
        Some(Resolved::Action(Action::Right))
    );
    assert_eq!(
        r(Mode::Detail, KeyCode::Char('l'), n),
        Some(Resolved::Action(Action::Logs))
    );
    assert_eq!(
        r(Mode::Normal, KeyCode::BackTab, KeyModifiers::SHIFT),
        Some(Resolved::Action(Action::FocusPrev))
    );
    assert_eq!(
        r(Mode::Normal, KeyCode::Char('G'), KeyModifiers::SHIFT),
        Some(Resolved::Action(Action::Bottom))
    );
    assert_eq!(
        r(Mode::Normal, KeyCode::Char('S'), KeyModifiers::SHIFT),
        Some(Resolved::Action(Action::Sunset))
    );
    assert_eq!(
        r(Mode::Normal, KeyCode::Char('z'), KeyModifiers::CONTROL),
        Some(Resolved::Action(Action::Suspend))
    );
    assert_eq!(
        r(Mode::Normal, KeyCode::Char('3'), n),
        Some(Resolved::Action(Action::FocusPane3))
    );
    // The filter takes text but keeps Esc/Enter/arrows.
    assert_eq!(
        r(Mode::Filter, KeyCode::Char('q'), n),
        Some(Resolved::Text('q'))
    );
    assert_eq!(
        r(Mode::Filter, KeyCode::Backspace, n),
        Some(Resolved::Erase)
    );
    assert_eq!(
        r(Mode::Filter, KeyCode::Esc, n),
        Some(Resolved::Action(Action::Back))
    );
    assert_eq!(
        r(Mode::Filter, KeyCode::Down, n),
        Some(Resolved::Action(Action::Down))
    );
    assert_eq!(
        r(Mode::Normal, KeyCode::Char('Z'), KeyModifiers::SHIFT),
        None
    );
}

#[test]
fn overrides_replace_keys() {
    let km = Keymap::from_config(&one("quit", &["ctrl-q", "F10"])).unwrap();
    let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
    assert_eq!(km.resolve(Mode::Normal, &q), None);
    let cq = key(KeyCode::Char('q'), KeyModifiers::CONTROL);
    assert_eq!(
        km.resolve(Mode::Normal, &cq),
        Some(Resolved::Action(Action::Quit))
    );
    let f10 = key(KeyCode::F(10), KeyModifiers::NONE);
    assert_eq!(
        km.resolve(Mode::Detail, &f10),
        Some(Resolved::Action(Action::Quit))
    );
    let single = BTreeMap::from([("help".to_string(), KeyList::One("H".into()))]);
    let km = Keymap::from_config(&single).unwrap();
    assert_eq!(km.hint(Action::Help, Mode::Normal).as_deref(), Some("H"));
}

#[test]
fn conflicts_and_unknowns_are_errors() {
    let err = Keymap::from_config(&one("logs", &["j"])).unwrap_err();
    assert!(matches!(err, KeymapError::Conflict { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("`down`") && msg.contains("`logs`"), "{msg}");
    let err = Keymap::from_config(&one("teleport", &["t"])).unwrap_err();
    assert_eq!(err, KeymapError::UnknownAction("teleport".into()));
    let err = Keymap::from_config(&one("quit", &["ctrl-"])).unwrap_err();
    assert!(matches!(err, KeymapError::BadKey { .. }), "{err}");
    let err = Keymap::from_config(&one("quit", &["hyper-x"])).unwrap_err();
    assert!(err.to_string().contains("keys.quit"), "{err}");
}

#[test]
fn parse_and_display() {
    for (s, shown) in [
        ("ctrl-z", "Ctrl-z"),
        ("shift-tab", "Shift-Tab"),
        ("enter", "Enter"),
        ("G", "G"),
        ("f1", "F1"),
        ("alt-x", "Alt-x"),
        ("-", "-"),
        ("space", "Space"),
        ("pagedown", "PgDn"),
    ] {
        assert_eq!(KeyChord::parse(s).unwrap().to_string(), shown);
    }
    assert!(KeyChord::parse("").is_err());
    assert!(KeyChord::parse("f99").is_err());
}

#[test]
fn help_lists_every_action() {
    let rows = Keymap::default().help_rows();
    for a in Action::ALL {
        assert!(rows.iter().any(|r| r.action == a), "{a:?} missing");
    }
    let logs = rows.iter().find(|r| r.action == Action::Logs).unwrap();
    assert_eq!(logs.keys, "l");
    assert_eq!(logs.scope.as_deref(), Some("detail, logs"));
    // `r` means one thing on the board and another in the detail: two rows say so.
    let meaning = |a, scope| {
        rows.iter()
            .find(|r| r.action == a && r.scope.as_deref() == scope)
    };
    let r_detail = meaning(Action::Rollback, Some("detail")).unwrap();
    assert_eq!(r_detail.description, "roll back to the picked revision");
    let r_board = meaning(Action::Rollback, Some("board, logs")).unwrap();
    assert_eq!(r_board.description, "roll back to the previous revision");
    let quit = rows.iter().find(|r| r.action == Action::Quit).unwrap();
    assert_eq!(
        (quit.keys.as_str(), quit.scope.as_ref()),
        ("q Ctrl-c", None)
    );
}
