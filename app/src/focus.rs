//! Tab and Shift+Tab move the keyboard focus between fields and buttons, inside the event
//! batch they arrive in.
//!
//! Moving focus with a task (`operation::focus_next()` from `update`) runs only after the whole
//! batch of events has gone through the widgets, so keys typed right after Tab (a password
//! manager filling "user⇥password", or a fast typist) still landed in the old field. This
//! wrapper sits at the root of every screen and runs the same focus operation on the widget
//! tree the moment Tab passes through, so the next key already finds the new field, and
//! scrolls the newly focused control into view when it sits outside a scrollable's view.

use iced::advanced::layout;
use iced::advanced::mouse;
use iced::advanced::overlay;
use iced::advanced::renderer;
use iced::advanced::widget::operation::{self, Operation, Outcome};
use iced::advanced::widget::tree::{self, Tree};
use iced::advanced::{Clipboard, Layout, Shell, Widget};
use iced::keyboard::{self, key::Named};
use iced::{Element, Event, Length, Rectangle, Size, Vector};

/// See the module notes.
pub struct TabFocus<'a, Message, Theme, Renderer> {
    content: Element<'a, Message, Theme, Renderer>,
}

/// Wraps a screen so Tab moves the focus at once.
pub fn tab_focus<'a, Message, Theme, Renderer>(
    content: impl Into<Element<'a, Message, Theme, Renderer>>,
) -> TabFocus<'a, Message, Theme, Renderer> {
    TabFocus {
        content: content.into(),
    }
}

/// Runs a (possibly chained) operation over `widget` to the end, as the runtime would, and
/// returns what it found.
fn run<T: Send + 'static, Message, Theme, Renderer: renderer::Renderer>(
    widget: &mut dyn Widget<Message, Theme, Renderer>,
    tree: &mut Tree,
    layout: Layout<'_>,
    renderer: &Renderer,
    mut operation: Box<dyn Operation<T>>,
) -> Option<T> {
    loop {
        widget.operate(
            tree,
            layout,
            renderer,
            &mut operation::black_box(operation.as_mut()),
        );
        match operation.finish() {
            Outcome::Chain(next) => operation = next,
            Outcome::Some(found) => return Some(found),
            Outcome::None => return None,
        }
    }
}

/// What the first pass finds: the focused widget's bounds and every scrollable on the way, in
/// layout coordinates (before scrolling).
#[derive(Debug, Default)]
struct Found {
    focused: Option<Rectangle>,
    scrollables: Vec<(Rectangle, Rectangle, Vector)>,
}

/// Finds the focused widget and the scrollables.
struct FindFocused(Found);

impl Operation<Found> for FindFocused {
    fn traverse(&mut self, operate: &mut dyn FnMut(&mut dyn Operation<Found>)) {
        operate(self);
    }

    fn scrollable(
        &mut self,
        _id: Option<&iced::widget::Id>,
        bounds: Rectangle,
        content_bounds: Rectangle,
        translation: Vector,
        _state: &mut dyn operation::Scrollable,
    ) {
        self.0
            .scrollables
            .push((bounds, content_bounds, translation));
    }

    fn focusable(
        &mut self,
        _id: Option<&iced::widget::Id>,
        bounds: Rectangle,
        state: &mut dyn operation::Focusable,
    ) {
        if state.is_focused() {
            self.0.focused = Some(bounds);
        }
    }

    fn finish(&self) -> Outcome<Found> {
        Outcome::Some(Found {
            focused: self.0.focused,
            scrollables: self.0.scrollables.clone(),
        })
    }
}

/// Room kept above and below the focused widget when scrolling it into view (its focus ring).
const REVEAL_MARGIN: f32 = 8.0;

/// How far a scrollable showing `bounds` of its content, scrolled by `translation`, must
/// scroll down (positive) or up (negative) for `target` to be in view; `None` if it is.
fn reveal_offset(bounds: Rectangle, translation: Vector, target: Rectangle) -> Option<f32> {
    let top = bounds.y + translation.y;
    let bottom = top + bounds.height;
    if target.y - REVEAL_MARGIN < top {
        Some(target.y - REVEAL_MARGIN - top)
    } else if target.y + target.height + REVEAL_MARGIN > bottom {
        // A widget taller than the view shows its top.
        let by =
            (target.y + target.height + REVEAL_MARGIN - bottom).min(target.y - REVEAL_MARGIN - top);
        Some(by)
    } else {
        None
    }
}

/// Scrolls each scrollable holding the focused widget so the widget is in view.
struct Reveal {
    /// (bounds, content bounds, vertical offset) per scrollable to move.
    moves: Vec<(Rectangle, Rectangle, f32)>,
}

impl Operation for Reveal {
    fn traverse(&mut self, operate: &mut dyn FnMut(&mut dyn Operation)) {
        operate(self);
    }

    fn scrollable(
        &mut self,
        _id: Option<&iced::widget::Id>,
        bounds: Rectangle,
        content_bounds: Rectangle,
        _translation: Vector,
        state: &mut dyn operation::Scrollable,
    ) {
        if let Some((_, _, by)) = self
            .moves
            .iter()
            .find(|(b, c, _)| *b == bounds && *c == content_bounds)
        {
            state.scroll_by(
                operation::scrollable::AbsoluteOffset { x: 0.0, y: *by },
                bounds,
                content_bounds,
            );
        }
    }
}

/// Brings the newly focused widget into view in the scrollables around it.
fn reveal_focused<Message, Theme, Renderer: renderer::Renderer>(
    content: &mut dyn Widget<Message, Theme, Renderer>,
    tree: &mut Tree,
    layout: Layout<'_>,
    renderer: &Renderer,
) {
    let Some(found) = run(
        content,
        tree,
        layout,
        renderer,
        Box::new(FindFocused(Found::default())),
    ) else {
        return;
    };
    let Some(target) = found.focused else {
        return;
    };
    let moves: Vec<_> = found
        .scrollables
        .iter()
        .filter(|(_, content_bounds, _)| content_bounds.intersects(&target))
        .filter_map(|(bounds, content_bounds, translation)| {
            reveal_offset(*bounds, *translation, target).map(|by| (*bounds, *content_bounds, by))
        })
        .collect();
    if !moves.is_empty() {
        run(content, tree, layout, renderer, Box::new(Reveal { moves }));
    }
}

impl<Message, Theme, Renderer> Widget<Message, Theme, Renderer>
    for TabFocus<'_, Message, Theme, Renderer>
where
    Renderer: renderer::Renderer,
{
    fn tag(&self) -> tree::Tag {
        self.content.as_widget().tag()
    }

    fn state(&self) -> tree::State {
        self.content.as_widget().state()
    }

    fn children(&self) -> Vec<Tree> {
        self.content.as_widget().children()
    }

    fn diff(&self, tree: &mut Tree) {
        self.content.as_widget().diff(tree);
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
        self.content.as_widget_mut().layout(tree, renderer, limits)
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        renderer: &Renderer,
        operation: &mut dyn Operation,
    ) {
        self.content
            .as_widget_mut()
            .operate(tree, layout, renderer, operation);
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
        self.content.as_widget_mut().update(
            tree, event, layout, cursor, renderer, clipboard, shell, viewport,
        );
        if shell.is_event_captured() {
            return;
        }
        if let Event::Keyboard(keyboard::Event::KeyPressed {
            key: keyboard::Key::Named(Named::Tab),
            modifiers,
            ..
        }) = event
        {
            let backwards = modifiers.shift();
            let step = || -> Box<dyn Operation> {
                if backwards {
                    Box::new(operation::focusable::focus_previous())
                } else {
                    Box::new(operation::focusable::focus_next())
                }
            };
            let content = self.content.as_widget_mut();
            run(content, tree, layout, renderer, step());
            // iced's focus steps fall off the end (nothing focused) before starting over;
            // wrap around at once instead, as desktop apps do.
            let count = run(
                content,
                tree,
                layout,
                renderer,
                Box::new(operation::focusable::count()),
            );
            if count.is_some_and(|count| count.focused.is_none() && count.total > 0) {
                run(content, tree, layout, renderer, step());
            }
            // A control below the fold (a long form) scrolls into view as it gets the focus.
            reveal_focused(content, tree, layout, renderer);
            shell.capture_event();
            shell.request_redraw();
        }
    }

    fn mouse_interaction(
        &self,
        tree: &Tree,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        viewport: &Rectangle,
        renderer: &Renderer,
    ) -> mouse::Interaction {
        self.content
            .as_widget()
            .mouse_interaction(tree, layout, cursor, viewport, renderer)
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
        self.content
            .as_widget()
            .draw(tree, renderer, theme, style, layout, cursor, viewport);
    }

    fn overlay<'b>(
        &'b mut self,
        tree: &'b mut Tree,
        layout: Layout<'b>,
        renderer: &Renderer,
        viewport: &Rectangle,
        translation: Vector,
    ) -> Option<overlay::Element<'b, Message, Theme, Renderer>> {
        self.content
            .as_widget_mut()
            .overlay(tree, layout, renderer, viewport, translation)
    }
}

impl<'a, Message: 'a, Theme: 'a, Renderer> From<TabFocus<'a, Message, Theme, Renderer>>
    for Element<'a, Message, Theme, Renderer>
where
    Renderer: renderer::Renderer + 'a,
{
    fn from(focus: TabFocus<'a, Message, Theme, Renderer>) -> Self {
        Element::new(focus)
    }
}

/// A Shift+Tab key press, as tests send it.
#[cfg(test)]
pub(crate) fn shift_tab() -> Event {
    Event::Keyboard(keyboard::Event::KeyPressed {
        key: keyboard::Key::Named(Named::Tab),
        modified_key: keyboard::Key::Named(Named::Tab),
        physical_key: keyboard::key::Physical::Unidentified(
            keyboard::key::NativeCode::Unidentified,
        ),
        location: keyboard::Location::Standard,
        modifiers: keyboard::Modifiers::SHIFT,
        repeat: false,
        text: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced::widget::{Id, column, text_input};
    use iced_test::simulator;

    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        User(String),
        Password(String),
    }

    fn form<'a>(user: &'a str, password: &'a str) -> Element<'a, Field> {
        tab_focus(column![
            text_input("user", user).id("user").on_input(Field::User),
            text_input("password", password)
                .id("password")
                .on_input(Field::Password),
        ])
        .into()
    }

    /// What the fields hold after `messages`.
    fn apply(mut fields: (String, String), messages: Vec<Field>) -> (String, String) {
        for message in messages {
            match message {
                Field::User(value) => fields.0 = value,
                Field::Password(value) => fields.1 = value,
            }
        }
        fields
    }

    #[test]
    fn keys_typed_right_after_tab_land_in_the_next_field() {
        // One batch, as a password manager types it: user name, Tab, password.
        let messages: Vec<Field> = {
            let mut ui = simulator(form("", ""));
            ui.click(Id::new("user")).expect("user field");
            let batch: Vec<Event> = iced_test::simulator::typewrite("hana")
                .chain(iced_test::simulator::tap_key(Named::Tab, None))
                .chain(iced_test::simulator::typewrite("s3cret"))
                .collect();
            ui.simulate(batch);
            ui.into_messages().collect()
        };
        let fields = apply((String::new(), String::new()), messages);
        assert_eq!(fields, ("hana".to_owned(), "s3cret".to_owned()));

        // Shift+Tab goes back.
        let messages: Vec<Field> = {
            let mut ui = simulator(form(&fields.0, &fields.1));
            ui.click(Id::new("password")).expect("password field");
            let batch: Vec<Event> = std::iter::once(shift_tab())
                .chain(iced_test::simulator::typewrite("!"))
                .collect();
            ui.simulate(batch);
            ui.into_messages().collect()
        };
        let fields = apply(fields, messages);
        assert_eq!(fields, ("hana!".to_owned(), "s3cret".to_owned()));
    }

    #[derive(Debug, Clone)]
    struct Typed;

    fn long_form<'a>() -> Element<'a, Typed> {
        let fields = (0..20).fold(iced::widget::Column::new().spacing(10), |col, i| {
            col.push(
                text_input("field", "")
                    .id(format!("field-{i}"))
                    .on_input(|_| Typed),
            )
        });
        tab_focus(iced::widget::scrollable(fields).height(120)).into()
    }

    #[test]
    fn a_control_below_the_fold_scrolls_into_view_as_tab_reaches_it() {
        let mut ui = simulator(long_form());
        let visible = |ui: &mut iced_test::Simulator<'_, Typed>, id: &str| {
            ui.find(Id::from(id.to_owned()))
                .expect("field exists")
                .visible_bounds()
                .is_some()
        };
        assert!(!visible(&mut ui, "field-15"), "starts out of view");
        ui.click(Id::new("field-0")).expect("first field");
        ui.simulate(
            std::iter::repeat_n(Named::Tab, 15)
                .flat_map(|key| iced_test::simulator::tap_key(key, None))
                .collect::<Vec<_>>(),
        );
        assert!(
            visible(&mut ui, "field-15"),
            "scrolled to the focused field"
        );
        assert!(!visible(&mut ui, "field-0"), "the top scrolled away");
        // And back up with Shift+Tab... to the first field, which comes back into view.
        ui.click(Id::new("field-15")).expect("field in view");
        ui.simulate(vec![shift_tab(); 15]);
        assert!(visible(&mut ui, "field-0"));
    }

    #[test]
    fn reveal_scrolls_only_as_far_as_needed() {
        let view = Rectangle::new(iced::Point::new(0.0, 0.0), Size::new(100.0, 100.0));
        let at = |y: f32| Rectangle::new(iced::Point::new(0.0, y), Size::new(100.0, 20.0));
        assert_eq!(reveal_offset(view, Vector::ZERO, at(40.0)), None);
        // Below: scroll down until its bottom (and the margin) shows.
        assert_eq!(reveal_offset(view, Vector::ZERO, at(150.0)), Some(78.0));
        // Above, with the view scrolled down by 200: scroll up to its top.
        assert_eq!(
            reveal_offset(view, Vector::new(0.0, 200.0), at(150.0)),
            Some(-58.0)
        );
        // Taller than the view: its top shows.
        let tall = Rectangle::new(iced::Point::new(0.0, 300.0), Size::new(100.0, 400.0));
        assert_eq!(reveal_offset(view, Vector::ZERO, tall), Some(292.0));
    }
}
