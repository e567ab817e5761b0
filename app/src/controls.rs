//! Controls the keyboard can reach: buttons, checkboxes, togglers, radios and pickers.
//!
//! iced 0.14 lets Tab reach text fields only. [`Focusable`] wraps any control so Tab and
//! Shift+Tab stop on it too (in screen order, together with the fields), draws a focus ring
//! while it has the focus, and turns Enter or Space into the control's action and the arrow
//! keys into "previous/next choice" for pickers. A mouse press anywhere drops the keyboard
//! focus (and its ring), as desktop apps do.

use iced::advanced::layout;
use iced::advanced::mouse;
use iced::advanced::overlay;
use iced::advanced::renderer;
use iced::advanced::widget::operation::{self, Operation};
use iced::advanced::widget::tree::{self, Tree};
use iced::advanced::{Clipboard, Layout, Shell, Widget};
use iced::keyboard::{self, key::Named};
use iced::widget::button as iced_button;
use iced::{Border, Color, Element, Event, Length, Rectangle, Size, Theme, Vector};

/// Which way an arrow key moves a picker's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Previous,
    Next,
}

/// A control that Tab can reach; see the module notes.
pub struct Focusable<'a, Message, Theme = iced::Theme, Renderer = iced::Renderer> {
    content: Element<'a, Message, Theme, Renderer>,
    on_activate: Option<Message>,
    on_step: Option<Box<dyn Fn(Step) -> Option<Message> + 'a>>,
}

/// Wraps `content`; it takes the focus only once it has an action (`on_activate`/`on_step`),
/// so a disabled button is skipped by Tab as it is by the mouse.
pub fn focusable<'a, Message, Theme, Renderer>(
    content: impl Into<Element<'a, Message, Theme, Renderer>>,
) -> Focusable<'a, Message, Theme, Renderer> {
    Focusable {
        content: content.into(),
        on_activate: None,
        on_step: None,
    }
}

impl<'a, Message, Theme, Renderer> Focusable<'a, Message, Theme, Renderer> {
    /// What Enter or Space does while the control has the focus.
    pub fn on_activate(self, message: Message) -> Self {
        self.on_activate_maybe(Some(message))
    }

    pub fn on_activate_maybe(mut self, message: Option<Message>) -> Self {
        self.on_activate = message;
        self
    }

    /// What the arrow keys do while the control has the focus (`None`: nothing further that way).
    pub fn on_step(mut self, on_step: impl Fn(Step) -> Option<Message> + 'a) -> Self {
        self.on_step = Some(Box::new(on_step));
        self
    }

    fn is_enabled(&self) -> bool {
        self.on_activate.is_some() || self.on_step.is_some()
    }
}

/// The arrow-key behaviour of a picker over `options`: the choice before or after `selected`
/// (the first or last when nothing is chosen yet), stopping at the ends.
pub fn step_through<'a, T, Message>(
    options: Vec<T>,
    selected: Option<T>,
    on_select: impl Fn(T) -> Message + 'a,
) -> impl Fn(Step) -> Option<Message> + 'a
where
    T: PartialEq + Clone + 'a,
{
    move |step| {
        let current = selected
            .as_ref()
            .and_then(|chosen| options.iter().position(|option| option == chosen));
        let next = match (current, step) {
            (None, Step::Next) => 0,
            (None, Step::Previous) => options.len().checked_sub(1)?,
            (Some(index), Step::Next) => index + 1,
            (Some(index), Step::Previous) => index.checked_sub(1)?,
        };
        options.get(next).cloned().map(&on_select)
    }
}

#[derive(Debug, Default)]
struct State {
    focused: bool,
}

impl operation::Focusable for State {
    fn is_focused(&self) -> bool {
        self.focused
    }

    fn focus(&mut self) {
        self.focused = true;
    }

    fn unfocus(&mut self) {
        self.focused = false;
    }
}

/// The ring around a focused control: the text colour, so it shows on light and dark themes.
const RING_WIDTH: f32 = 2.0;
const RING_GAP: f32 = 2.0;

impl<Message, Theme, Renderer> Widget<Message, Theme, Renderer>
    for Focusable<'_, Message, Theme, Renderer>
where
    Message: Clone,
    Renderer: renderer::Renderer,
{
    fn tag(&self) -> tree::Tag {
        tree::Tag::of::<State>()
    }

    fn state(&self) -> tree::State {
        tree::State::new(State::default())
    }

    fn children(&self) -> Vec<Tree> {
        vec![Tree::new(&self.content)]
    }

    fn diff(&self, tree: &mut Tree) {
        tree.diff_children(std::slice::from_ref(&self.content));
    }

    fn size(&self) -> Size<Length> {
        self.content.as_widget().size()
    }

    fn layout(
        &mut self,
        tree: &mut Tree,
        renderer: &Renderer,
        limits: &layout::Limits,
    ) -> layout::Node {
        // The control's own layout, unchanged: the ring is drawn just outside it.
        self.content
            .as_widget_mut()
            .layout(&mut tree.children[0], renderer, limits)
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        renderer: &Renderer,
        operation: &mut dyn Operation,
    ) {
        if self.is_enabled() {
            let state = tree.state.downcast_mut::<State>();
            operation.focusable(None, layout.bounds(), state);
        } else {
            // A control that became disabled while focused gives the focus up.
            tree.state.downcast_mut::<State>().focused = false;
        }
        self.content
            .as_widget_mut()
            .operate(&mut tree.children[0], layout, renderer, operation);
    }

    fn update(
        &mut self,
        tree: &mut Tree,
        event: &Event,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        renderer: &Renderer,
        clipboard: &mut dyn Clipboard,
        shell: &mut Shell<'_, Message>,
        viewport: &Rectangle,
    ) {
        let state = tree.state.downcast_mut::<State>();
        if let Event::Mouse(mouse::Event::ButtonPressed(_)) = event
            && state.focused
        {
            state.focused = false;
            shell.request_redraw();
        }
        let focused = state.focused && self.is_enabled();
        self.content.as_widget_mut().update(
            &mut tree.children[0],
            event,
            layout,
            cursor,
            renderer,
            clipboard,
            shell,
            viewport,
        );
        if !focused || shell.is_event_captured() {
            return;
        }
        let Event::Keyboard(keyboard::Event::KeyPressed {
            key: keyboard::Key::Named(key),
            modifiers,
            ..
        }) = event
        else {
            return;
        };
        if modifiers.control() || modifiers.alt() || modifiers.logo() {
            return;
        }
        let message = match key {
            Named::Enter | Named::Space => self.on_activate.clone(),
            Named::ArrowUp | Named::ArrowLeft => {
                self.on_step.as_ref().and_then(|step| step(Step::Previous))
            }
            Named::ArrowDown | Named::ArrowRight => {
                self.on_step.as_ref().and_then(|step| step(Step::Next))
            }
            _ => return,
        };
        if let Some(message) = message {
            shell.publish(message);
        }
        // Handled even at a picker's end, so the key doesn't scroll the page instead.
        shell.capture_event();
    }

    fn mouse_interaction(
        &self,
        tree: &Tree,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        viewport: &Rectangle,
        renderer: &Renderer,
    ) -> mouse::Interaction {
        self.content.as_widget().mouse_interaction(
            &tree.children[0],
            layout,
            cursor,
            viewport,
            renderer,
        )
    }

    fn draw(
        &self,
        tree: &Tree,
        renderer: &mut Renderer,
        theme: &Theme,
        style: &renderer::Style,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        viewport: &Rectangle,
    ) {
        self.content.as_widget().draw(
            &tree.children[0],
            renderer,
            theme,
            style,
            layout,
            cursor,
            viewport,
        );
        if tree.state.downcast_ref::<State>().focused && self.is_enabled() {
            renderer.fill_quad(
                renderer::Quad {
                    bounds: layout.bounds().expand(RING_GAP + RING_WIDTH),
                    border: Border {
                        color: style.text_color,
                        width: RING_WIDTH,
                        radius: 4.0.into(),
                    },
                    ..renderer::Quad::default()
                },
                Color::TRANSPARENT,
            );
        }
    }

    fn overlay<'b>(
        &'b mut self,
        tree: &'b mut Tree,
        layout: Layout<'b>,
        renderer: &Renderer,
        viewport: &Rectangle,
        translation: Vector,
    ) -> Option<overlay::Element<'b, Message, Theme, Renderer>> {
        self.content.as_widget_mut().overlay(
            &mut tree.children[0],
            layout,
            renderer,
            viewport,
            translation,
        )
    }
}

impl<'a, Message, Theme, Renderer> From<Focusable<'a, Message, Theme, Renderer>>
    for Element<'a, Message, Theme, Renderer>
where
    Message: Clone + 'a,
    Theme: 'a,
    Renderer: renderer::Renderer + 'a,
{
    fn from(control: Focusable<'a, Message, Theme, Renderer>) -> Self {
        Element::new(control)
    }
}

/// iced's button, reachable with Tab and pressed with Enter or Space, with the builder calls
/// the screens use (`on_press`, `on_press_maybe`, `style`).
pub struct Button<'a, Message> {
    inner: iced_button::Button<'a, Message>,
    on_press: Option<Message>,
}

/// The button styles, under the same path as iced's (`button::primary`…).
pub mod button {
    pub use iced::widget::button::{danger, primary, secondary, success, text};
}

pub fn button<'a, Message>(content: impl Into<Element<'a, Message>>) -> Button<'a, Message> {
    Button {
        inner: iced_button::Button::new(content),
        on_press: None,
    }
}

impl<'a, Message: Clone> Button<'a, Message> {
    pub fn on_press(self, message: Message) -> Self {
        self.on_press_maybe(Some(message))
    }

    pub fn on_press_maybe(mut self, message: Option<Message>) -> Self {
        self.inner = self.inner.on_press_maybe(message.clone());
        self.on_press = message;
        self
    }

    pub fn padding(mut self, padding: impl Into<iced::Padding>) -> Self {
        self.inner = self.inner.padding(padding);
        self
    }

    pub fn style(
        mut self,
        style: impl Fn(&Theme, iced_button::Status) -> iced_button::Style + 'a,
    ) -> Self {
        self.inner = self.inner.style(style);
        self
    }
}

impl<'a, Message: Clone + 'a> From<Button<'a, Message>> for Element<'a, Message> {
    fn from(button: Button<'a, Message>) -> Self {
        focusable(button.inner)
            .on_activate_maybe(button.on_press)
            .into()
    }
}

/// A checkbox that Space or Enter ticks once Tab reaches it.
pub fn checkbox<'a, Message: Clone + 'a>(
    checked: bool,
    label: impl iced::widget::text::IntoFragment<'a>,
    on_toggle: impl Fn(bool) -> Message + 'a,
) -> Focusable<'a, Message> {
    let flip = on_toggle(!checked);
    focusable(
        iced::widget::checkbox(checked)
            .label(label)
            .on_toggle(on_toggle),
    )
    .on_activate(flip)
}

/// A toggler that Space or Enter flips once Tab reaches it.
pub fn toggler<'a, Message: Clone + 'a>(
    on: bool,
    label: impl iced::widget::text::IntoFragment<'a>,
    on_toggle: impl Fn(bool) -> Message + 'a,
) -> Focusable<'a, Message> {
    let flip = on_toggle(!on);
    focusable(iced::widget::toggler(on).label(label).on_toggle(on_toggle)).on_activate(flip)
}

/// A pick list whose choice the arrow keys change once Tab reaches it.
pub fn pick_list<'a, T, Message>(
    options: Vec<T>,
    selected: Option<T>,
    on_select: impl Fn(T) -> Message + Clone + 'a,
) -> Focusable<'a, Message>
where
    T: ToString + PartialEq + Clone + 'a,
    Message: Clone + 'a,
{
    let steps = step_through(options.clone(), selected.clone(), on_select.clone());
    focusable(iced::widget::pick_list(options, selected, on_select)).on_step(steps)
}

/// The messages `view` (wrapped like every screen) publishes when the keyboard user presses
/// Tab `tabs` times from nothing focused, then `key`.
#[cfg(test)]
pub(crate) fn after_tabs<'a, Message: Clone + 'a>(
    view: Element<'a, Message>,
    tabs: usize,
    key: Named,
) -> Vec<Message> {
    let mut ui = iced_test::simulator(crate::focus::tab_focus(view));
    let events: Vec<Event> = std::iter::repeat_n(Named::Tab, tabs)
        .chain(std::iter::once(key))
        .flat_map(|key| iced_test::simulator::tap_key(key, None))
        .collect();
    ui.simulate(events);
    ui.into_messages().collect()
}

/// Everything a keyboard user can make `view` publish: Tab 1..=`stops` times, then each of
/// `keys`, every combination on a fresh screen.
#[cfg(test)]
pub(crate) fn reachable<'a, Message: Clone + 'a>(
    view: impl Fn() -> Element<'a, Message>,
    stops: usize,
    keys: &[Named],
) -> Vec<Message> {
    let mut messages = Vec::new();
    for tabs in 1..=stops {
        for key in keys {
            messages.extend(after_tabs(view(), tabs, *key));
        }
    }
    messages
}

/// Asserts that a keyboard user reached each of `expected` among `messages` (as `Debug`
/// shows them): exactly, or any message of that kind for an entry ending in `(`.
#[cfg(test)]
pub(crate) fn assert_reachable<Message: std::fmt::Debug>(messages: &[Message], expected: &[&str]) {
    let shown: Vec<String> = messages.iter().map(|m| format!("{m:?}")).collect();
    for wanted in expected {
        let found = if wanted.ends_with('(') {
            shown.iter().any(|m| m.starts_with(wanted))
        } else {
            shown.iter().any(|m| m == wanted)
        };
        assert!(found, "{wanted} not reachable by keyboard: {shown:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::focus::tab_focus;
    use iced::widget::{checkbox, column, pick_list, text, text_input};
    use iced_test::simulator;

    #[derive(Debug, Clone, PartialEq)]
    enum Message {
        Name(String),
        Save,
        Delete,
        Lobby(bool),
        Language(&'static str),
    }

    const LANGUAGES: [&str; 3] = ["English", "日本語", "Français"];

    fn form<'a>(lobby: bool, language: &'static str, can_delete: bool) -> Element<'a, Message> {
        tab_focus(column![
            text_input("name", "").id("name").on_input(Message::Name),
            focusable(checkbox(lobby).label("Lobby").on_toggle(Message::Lobby))
                .on_activate(Message::Lobby(!lobby)),
            focusable(pick_list(LANGUAGES, Some(language), Message::Language)).on_step(
                step_through(LANGUAGES.to_vec(), Some(language), Message::Language)
            ),
            button(text("Delete")).on_press_maybe(can_delete.then_some(Message::Delete)),
            button(text("Save")).on_press(Message::Save),
        ])
        .into()
    }

    fn keys(keys: &[Named]) -> Vec<Event> {
        keys.iter()
            .flat_map(|key| simulator::tap_key(*key, None))
            .collect()
    }

    fn run(ui: Element<'_, Message>, events: Vec<Event>) -> Vec<Message> {
        let mut ui = simulator(ui);
        ui.click(iced::widget::Id::new("name")).expect("name field");
        ui.simulate(events);
        ui.into_messages().collect()
    }

    #[test]
    fn tab_reaches_every_control_and_enter_or_space_acts() {
        use Named::{ArrowDown, ArrowUp, Enter, Space, Tab};
        // Name → lobby checkbox: Space ticks it.
        assert_eq!(
            run(form(false, "English", true), keys(&[Tab, Space])),
            [Message::Lobby(true)]
        );
        // → language picker: the arrows step through the choices, stopping at the ends.
        assert_eq!(
            run(form(false, "English", true), keys(&[Tab, Tab, ArrowDown])),
            [Message::Language("日本語")]
        );
        assert!(run(form(false, "English", true), keys(&[Tab, Tab, ArrowUp])).is_empty());
        // → Delete → Save, pressed with Enter.
        assert_eq!(
            run(form(false, "English", true), keys(&[Tab, Tab, Tab, Enter])),
            [Message::Delete]
        );
        assert_eq!(
            run(
                form(false, "English", true),
                keys(&[Tab, Tab, Tab, Tab, Enter])
            ),
            [Message::Save]
        );
    }

    #[test]
    fn tab_wraps_around_both_ways_without_a_dead_stop() {
        use Named::{Enter, Tab};
        // Name, lobby, language, Delete, Save, then Tab lands in the name field again.
        let mut events = keys(&[Tab, Tab, Tab, Tab, Tab]);
        events.extend(simulator::typewrite("x"));
        assert_eq!(
            run(form(false, "English", true), events),
            [Message::Name("x".into())]
        );
        // Shift+Tab from the first control goes to the last one.
        let mut events = vec![crate::focus::shift_tab()];
        events.extend(keys(&[Enter]));
        assert_eq!(run(form(false, "English", true), events), [Message::Save]);
    }

    #[test]
    fn a_disabled_button_is_skipped_by_tab() {
        use Named::{Enter, Tab};
        assert_eq!(
            run(form(false, "English", false), keys(&[Tab, Tab, Tab, Enter])),
            [Message::Save]
        );
    }

    #[test]
    fn typing_in_a_field_never_presses_a_button() {
        // Space and Enter while the field has the focus stay in the field.
        let messages = run(
            form(false, "English", true),
            simulator::typewrite("a b")
                .chain(simulator::tap_key(Named::Enter, None))
                .collect(),
        );
        assert!(
            messages
                .iter()
                .all(|message| matches!(message, Message::Name(_))),
            "{messages:?}"
        );
    }

    #[test]
    fn a_mouse_press_drops_the_keyboard_focus() {
        use Named::{Enter, Tab};
        let mut ui = simulator(form(false, "English", true));
        ui.click(iced::widget::Id::new("name")).expect("name field");
        ui.simulate(keys(&[Tab, Tab, Tab]));
        // A click on the text elsewhere, then Enter: Delete no longer has the focus.
        ui.click("Save").expect("Save button");
        ui.simulate(keys(&[Enter]));
        let messages: Vec<Message> = ui.into_messages().collect();
        assert_eq!(messages, [Message::Save]);
    }

    #[test]
    fn pickers_step_from_nothing_chosen_to_the_ends() {
        let step = step_through(LANGUAGES.to_vec(), None, |l| l);
        assert_eq!(step(Step::Next), Some("English"));
        assert_eq!(step(Step::Previous), Some("Français"));
        let step = step_through(LANGUAGES.to_vec(), Some("Français"), |l| l);
        assert_eq!(step(Step::Next), None);
        assert_eq!(step(Step::Previous), Some("日本語"));
        let step = step_through(Vec::<&str>::new(), None, |l| l);
        assert_eq!(step(Step::Previous), None);
    }
}
